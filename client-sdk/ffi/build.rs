//! Generates `include/piecepay.h` from the crate's `extern "C"` items with cbindgen.
//!
//! The header is committed so C/C++ builds need no Rust tooling, and regenerated on every build of this
//! crate so it can never drift from the code: cbindgen rewrites the file only when its content changes.

use std::{env, path::PathBuf};

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("the C header generates")
        .write_to_file(crate_dir.join("include/piecepay.h"));
}
