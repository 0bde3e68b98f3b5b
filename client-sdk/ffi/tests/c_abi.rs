//! Proves the generated header usable from C (and C++): compiles `tests/c/flow.c` against
//! `include/piecepay.h` with the system C compiler, links the cdylib cargo built for this test run, and
//! runs it.

mod common;

use std::process::Command;

use common::c::{compile, crate_dir, run};

#[test]
fn c_program_drives_both_sides_through_the_header() {
    let out = std::env::temp_dir().join(format!("piecepay-ffi-flow-{}", std::process::id()));
    compile("flow", &out);
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
