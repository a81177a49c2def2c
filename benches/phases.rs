//! Where a build's time goes, phase by phase, through the library's public
//! steps in the order `objfreeze build` runs them: read the inputs (and strip
//! `.pyc` headers), lay out the table (sort, share identical blobs, copy,
//! BLAKE3 digest), stream the object into a file.
//!
//!     cargo bench --bench phases -- ARGS.TXT [RUNS]
//!
//! ARGS.TXT holds `-m`/`-p` then `NAME=FILE` on alternate lines (what
//! `bench/run.sh` hands to `objfreeze build`). Prints one line per phase:
//! the minimum over RUNS runs, in milliseconds. Not a test: it asserts nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use objfreeze::build::read_input_into;
use objfreeze::cpython::pyc;
use objfreeze::format::{self, Blob, Endian, Module, Tag, TagKind};
use objfreeze::objwrite::{self, Placement};
use objfreeze::output;
use objfreeze::target::Target;

fn main() {
    // `cargo bench` passes `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(list) = args.first() else {
        eprintln!("usage: cargo bench --bench phases -- ARGS.TXT [RUNS]");
        return;
    };
    let runs: usize = args.get(1).map_or(5, |r| r.parse().expect("RUNS"));
    let text = std::fs::read_to_string(list).expect("read the argument list");
    let lines: Vec<&str> = text.lines().collect();
    let specs: Vec<(String, bool, PathBuf)> = lines
        .chunks(2)
        .map(|c| {
            let (name, file) = c[1].split_once('=').expect("NAME=FILE");
            (name.to_string(), c[0] == "-p", PathBuf::from(file))
        })
        .collect();
    let target = Target::host();
    let place = Placement::new(&target, None, None).unwrap();
    let out = std::env::temp_dir().join(format!("objfreeze-phases-{}.o", std::process::id()));

    let mut best = [Duration::MAX; 4];
    let mut bytes = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut tag = 0;
        // As the build does: every file into one shared buffer, sized by a stat.
        let room: u64 = specs
            .iter()
            .map(|(_, _, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        let mut arena = objfreeze::buffer::large_buffer(room as usize + 1);
        let ranges: Vec<_> = specs
            .iter()
            .map(|(_, _, path)| {
                let mut code = read_input_into(path, &mut arena).unwrap();
                if path.extension().is_some_and(|e| e == "pyc") {
                    let p = pyc::parse(&arena[code.clone()]).unwrap();
                    tag = p.tag;
                    code.start = code.end - p.code.len();
                }
                code
            })
            .collect();
        let arena = Arc::new(arena);
        let modules: Vec<Module> = specs
            .iter()
            .zip(ranges)
            .map(|((name, package, _), code)| Module {
                name: name.clone(),
                data: Blob::shared(arena.clone(), code),
                package: *package,
                origin: None,
                data_file: false,
            })
            .collect();
        let t1 = Instant::now();
        let kind = if tag != 0 {
            TagKind::Cpython
        } else {
            TagKind::None
        };
        let table =
            format::write_table(&modules, Tag { kind, value: tag }, Endian::Little).unwrap();
        let t2 = Instant::now();
        // The digest alone, to tell hashing from laying out and copying.
        std::hint::black_box(blake3::hash(&table[format::HEADER_SIZE as usize..]));
        let t3 = Instant::now();
        output::stage_with(&out, |w| {
            objwrite::write_object_to(&target, &place, &table, w)
        })
        .and_then(|s| s.commit())
        .unwrap();
        let t4 = Instant::now();
        bytes = table.len();
        for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *b = (*b).min(d);
        }
        drop(modules);
        drop(arena);
    }
    let _ = std::fs::remove_file(&out);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("modules\t{}", specs.len());
    println!("table_bytes\t{bytes}");
    println!("read_inputs_ms\t{:.2}", ms(best[0]));
    println!("write_table_ms\t{:.2}", ms(best[1]));
    println!("  of_which_digest_ms\t{:.2}", ms(best[2]));
    println!("write_object_ms\t{:.2}", ms(best[3]));
}
