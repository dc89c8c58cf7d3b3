/*
 * setjmp.h for Lua on wasm32-unknown-unknown (moonvault).
 *
 * Debian's wasi-libc ships no setjmp.h. With `-mllvm -wasm-enable-sjlj`
 * clang never emits real calls to setjmp/longjmp: LLVM's sjlj lowering
 * rewrites them into calls to __wasm_setjmp / __wasm_setjmp_test /
 * __wasm_longjmp (see sjlj_rt.c) plus wasm exception handling. This header
 * only has to give `jmp_buf` a size that holds the record those functions
 * keep, and declare the functions with the right attributes.
 *
 * Lua's POSIX build uses _setjmp/_longjmp; they are mapped to the names
 * the LLVM pass recognises.
 */
#ifndef MOONVAULT_SETJMP_H
#define MOONVAULT_SETJMP_H

#ifdef __cplusplus
extern "C" {
#endif

/* The record kept by sjlj_rt.c. Its layout is private to that file; the
 * size is checked there with a static assertion. */
typedef struct __moonvault_jmp_buf {
	void *__func_invocation_id;
	unsigned int __label;
	void *__arg_env;
	int __arg_val;
} jmp_buf[1];

int setjmp(jmp_buf env) __attribute__((__returns_twice__));
_Noreturn void longjmp(jmp_buf env, int val);

#define _setjmp(env) setjmp(env)
#define _longjmp(env, val) longjmp(env, val)

#ifdef __cplusplus
}
#endif

#endif /* MOONVAULT_SETJMP_H */
