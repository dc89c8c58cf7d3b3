//! Test binaries normally share the shipped module's 2 MiB memory maximum
//! (.cargo/config.toml). With the `test-memory-16mib` feature they are
//! linked with 16 MiB instead: wasm-ld takes the last `--max-memory`, and
//! cargo passes these link arguments after the target's rustflags.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TEST_MEMORY_16MIB").is_some()
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32")
    {
        println!("cargo::rustc-link-arg-tests=--max-memory=16777216");
    }
}
