/*
 * Runtime for LLVM's wasm setjmp/longjmp lowering (moonvault, wasm32 only).
 *
 * With `-mllvm -wasm-enable-sjlj`, every function that calls setjmp gets a
 * unique "invocation id" (the address of a stack slot of that activation)
 * and every setjmp call site a nonzero label. The lowered code:
 *   - calls __wasm_setjmp(env, label, id) where setjmp was called;
 *   - wraps calls that may longjmp in a catch of the C_LONGJMP tag
 *     (__c_longjmp, defined in c_longjmp_tag.S); on catching, it asks
 *     __wasm_setjmp_test(env, id) whether the jump targets this activation,
 *     and if so resumes at that label, else rethrows;
 *   - replaces longjmp with __wasm_longjmp(env, val), which throws.
 *
 * The thrown payload is a pointer to {env, val}; it lives inside the
 * jmp_buf itself, which stays valid until the setjmp caller returns.
 */
#include <setjmp.h>
#include <stdint.h>

struct arg {
	void *env;
	int val;
};

struct jmp_buf_impl {
	void *func_invocation_id;
	uint32_t label;
	struct arg arg;
};

_Static_assert(sizeof(struct jmp_buf_impl) <= sizeof(jmp_buf),
	       "jmp_buf in include/setjmp.h is too small");

void __wasm_setjmp(void *env, uint32_t label, void *func_invocation_id)
{
	struct jmp_buf_impl *jb = env;
	/* The lowering never passes label 0 (0 means "not for us" in
	 * __wasm_setjmp_test) nor a null id; either means a broken build. */
	if (label == 0 || func_invocation_id == 0)
		__builtin_trap();
	jb->func_invocation_id = func_invocation_id;
	jb->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *func_invocation_id)
{
	struct jmp_buf_impl *jb = env;
	if (jb->label == 0 || func_invocation_id == 0)
		__builtin_trap();
	return jb->func_invocation_id == func_invocation_id ? jb->label : 0;
}

void __wasm_longjmp(void *env, int val)
{
	struct jmp_buf_impl *jb = env;
	/* C: longjmp never makes setjmp return 0. */
	if (val == 0)
		val = 1;
	jb->arg.env = env;
	jb->arg.val = val;
	__builtin_wasm_throw(1 /* C_LONGJMP */, &jb->arg);
}
