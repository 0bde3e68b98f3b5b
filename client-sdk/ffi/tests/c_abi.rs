//! Proves the generated header usable from C (and C++): compiles `tests/c/flow.c` against
//! `include/piecepay.h` with the system C compiler, links the cdylib cargo built for this test run, and
//! runs it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The directory holding this test binary, where cargo also puts the crate's cdylib.
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().expect("deps directory").to_path_buf()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> String {
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

#[test]
fn c_program_drives_both_sides_through_the_header() {
    let libs = artifacts_dir();
    assert!(
        libs.join("libpiecepay_ffi.so").exists(),
        "cdylib not found in {}",
        libs.display()
    );
    let out = std::env::temp_dir().join(format!("piecepay-ffi-flow-{}", std::process::id()));
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/flow.c"))
        .arg("-L")
        .arg(&libs)
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .arg("-lpiecepay_ffi")
        .arg("-o")
        .arg(&out));
    let stdout = run(&mut Command::new(&out));
    let _ = std::fs::remove_file(&out);
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[test]
fn header_compiles_as_cpp() {
    let probe = std::env::temp_dir().join(format!("piecepay-ffi-probe-{}.cpp", std::process::id()));
    std::fs::write(
        &probe,
        "#include \"piecepay.h\"\nint main() { PiecepayOutcome o{}; return (int)o.actions; }\n",
    )
    .unwrap();
    run(Command::new("c++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(&probe));
    let _ = std::fs::remove_file(&probe);
}
