//! C test programs: compiled from `tests/c/` against the generated header with the system compiler and
//! warnings as errors, linked to the cdylib cargo built for this test run, and run.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The directory holding this test binary, where cargo also puts the crate's cdylib.
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().expect("deps directory").to_path_buf()
}

/// The crate's directory.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command`, failing the test with its output unless it succeeds; its stdout.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Compiles `tests/c/<name>.c` (C11, `-Werror`) into `out` and links it to `libpiecepay_ffi`.
pub fn compile(name: &str, out: &Path) {
    let libs = artifacts_dir();
    assert!(
        libs.join("libpiecepay_ffi.so").exists(),
        "cdylib not found in {}",
        libs.display()
    );
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join(format!("tests/c/{name}.c")))
        .arg("-L")
        .arg(&libs)
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .arg("-lpiecepay_ffi")
        .arg("-o")
        .arg(out));
}
