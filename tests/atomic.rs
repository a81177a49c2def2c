//! Outputs are atomic: a build killed with SIGKILL at any moment leaves the
//! old object or the new one, byte for byte, and two builds writing the same
//! output at once leave one of their objects, whole and valid.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A raw module big enough that writing the object takes a while.
fn big_input(path: &Path, mb: usize, salt: u8) {
    let mut b = Vec::with_capacity(mb << 20);
    let mut x: u32 = 0x1234_5678 ^ salt as u32;
    while b.len() < mb << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

fn build_cmd(input: &Path, out: &Path) -> Command {
    let mut c = common::objfreeze();
    c.args(["build", "--interp", "none", "-o"])
        .arg(out)
        .arg("-m")
        .arg(format!("big={}", input.display()))
        .arg("-m")
        .arg(format!("small={}", input.with_extension("small").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Temporary files a killed build left behind, removed.
fn sweep(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(".objfreeze-") {
            std::fs::remove_file(&p).unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn sigkill_at_random_moments_leaves_old_or_new() {
    let d = common::tempdir();
    let (old_in, new_in) = (d.path().join("old.bin"), d.path().join("new.bin"));
    big_input(&old_in, 1, 1);
    big_input(&new_in, 24, 2);
    std::fs::write(old_in.with_extension("small"), b"small old").unwrap();
    std::fs::write(new_in.with_extension("small"), b"small new").unwrap();
    let out = d.path().join("table.o");
    common::run(&mut build_cmd(&old_in, &out));
    let old = std::fs::read(&out).unwrap();
    let t = Instant::now();
    common::run(&mut build_cmd(&new_in, &out));
    let full = t.elapsed();
    let new = std::fs::read(&out).unwrap();
    assert_ne!(old, new);

    // Kill moments spread over the whole build, and a little past its end.
    let span = full.as_micros() as u64 * 5 / 4;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut saw_old, mut saw_new, mut tmp_left, mut runs) = (0, 0, 0, 0);
    // OBJFREEZE_KILLS raises the count (and the time allowed) for a long run.
    let want: u64 = std::env::var("OBJFREEZE_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let deadline = Instant::now() + Duration::from_secs(60.max(want / 5));
    while runs < want && Instant::now() < deadline {
        std::fs::write(&out, &old).unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_micros(x % span.max(1));
        let mut child = build_cmd(&new_in, &out).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL on Unix; fails only if it already exited
        child.wait().unwrap();
        let now = std::fs::read(&out).unwrap();
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!(
                "after a kill {delay:?} into a {full:?} build, the output is neither old nor new ({} bytes)",
                now.len()
            );
        }
        tmp_left += sweep(d.path());
        runs += 1;
    }
    println!(
        "{runs} builds killed at random moments over {full:?}: {saw_old} left the old object, {saw_new} the new one, {tmp_left} left a temporary file (killed mid-write)"
    );
    assert!(runs >= 50, "only {runs} runs in the time allowed");
    // Kills landed both before and after the rename, and some mid-write.
    assert!(saw_old > 0 && saw_new > 0, "old {saw_old}, new {saw_new}");
    assert!(
        tmp_left > 0,
        "no kill landed while the object was being written"
    );
}

#[test]
fn concurrent_builds_leave_one_whole_object() {
    let d = common::tempdir();
    let (a_in, b_in) = (d.path().join("a.bin"), d.path().join("b.bin"));
    big_input(&a_in, 4, 3);
    big_input(&b_in, 5, 4);
    std::fs::write(a_in.with_extension("small"), b"small a").unwrap();
    std::fs::write(b_in.with_extension("small"), b"small b").unwrap();
    let out = d.path().join("table.o");
    let reference = |input: &Path| {
        let p = d.path().join("ref.o");
        common::run(&mut build_cmd(input, &p));
        let b = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        b
    };
    let (a, b) = (reference(&a_in), reference(&b_in));
    let (mut won_a, mut won_b) = (0, 0);
    let runs = 25;
    for i in 0..runs {
        // Alternate who starts first.
        let (first, second) = if i % 2 == 0 {
            (&a_in, &b_in)
        } else {
            (&b_in, &a_in)
        };
        let mut c1 = build_cmd(first, &out).spawn().unwrap();
        let mut c2 = build_cmd(second, &out).spawn().unwrap();
        assert!(c1.wait().unwrap().success() && c2.wait().unwrap().success());
        let now = std::fs::read(&out).unwrap();
        if now == a {
            won_a += 1;
        } else if now == b {
            won_b += 1;
        } else {
            panic!("run {i}: the output is neither build's object");
        }
        assert_eq!(sweep(d.path()), 0, "run {i}: a temporary file was left");
    }
    // The survivor is a valid object with a sound table.
    let v = common::objfreeze()
        .arg("verify")
        .arg(&out)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    println!("{runs} pairs of concurrent builds: A's object survived {won_a} times, B's {won_b}");
}
