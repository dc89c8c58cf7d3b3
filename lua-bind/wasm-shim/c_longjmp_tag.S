# The wasm exception tag that __wasm_longjmp throws and the sjlj-lowered
# code catches (payload: one i32, the address of {env, val}). Defining it
# here keeps it inside the module instead of importing env.__c_longjmp.
.globl __c_longjmp
.tagtype __c_longjmp i32
__c_longjmp:
