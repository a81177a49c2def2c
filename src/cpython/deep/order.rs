//! The order modules are laid out in: what is imported together, together.
//!
//! A module's first import reads its range of the blob in one request, but a
//! module mostly imports others as it runs, and on a cold start each of those
//! would be one more request. So modules are laid out depth first along their
//! top-level imports: a module, then each module it imports that is not laid
//! out yet, each followed by its own. What a module's import reached that way
//! is one range, its subtree; its record says where the subtree ends
//! (`reach`), and its first import asks for all of it in one read.

use std::collections::HashMap;

use crate::cpython::marshal::{Graph, Obj};

use super::layout::Layout;

/// The opcodes the import scan needs, from the build's own headers.
pub struct Ops {
    pub import_name: u8,
    pub import_from: u8,
    pub extended_arg: u8,
    pub cache: u8,
}

impl Ops {
    pub fn of(l: &Layout) -> Ops {
        let op = |n: &str| l.get(n) as u8;
        Ops {
            import_name: op("op_import_name"),
            import_from: op("op_import_from"),
            extended_arg: op("op_extended_arg"),
            cache: op("op_cache"),
        }
    }
}

/// What the module `name` (a package if `package`) imports in its top-level
/// code, as names of `known` modules, in bytecode order: each IMPORT_NAME's
/// module and its parents (`import a.b` imports `a`), and for `from m import
/// x` also `m.x` when that is a module. The level of an import is not read:
/// a name is tried as written and under the module's package, and whichever
/// exist count (a guess costs a read, never correctness). Imports inside
/// functions are left out: they run later, if at all.
pub fn imports<F: Fn(&str) -> bool>(
    g: &Graph,
    ops: &Ops,
    name: &str,
    package: bool,
    known: F,
) -> Vec<String> {
    let Obj::Code(c) = g.get(g.root) else {
        return Vec::new();
    };
    let (Obj::Bytes(code), Obj::Tuple(names)) = (g.get(c.code), g.get(c.names)) else {
        return Vec::new();
    };
    let name_at = |i: u32| match names.get(i as usize).map(|&id| g.get(id)) {
        Some(Obj::Str(s)) => Some(s.to_string_lossy()),
        _ => None,
    };
    let pkg = if package {
        name
    } else {
        name.rsplit_once('.').map_or("", |(p, _)| p)
    };
    let mut out: Vec<String> = Vec::new();
    let add = |m: &str, out: &mut Vec<String>| {
        // Parents first: importing a.b.c runs a, then a.b, then a.b.c.
        let mut end = 0;
        while end < m.len() {
            end = m[end..].find('.').map_or(m.len(), |i| end + i);
            let part = &m[..end];
            if known(part) && !out.iter().any(|o| o == part) {
                out.push(part.to_string());
            }
            end += 1;
        }
    };
    let mut from: Vec<String> = Vec::new();
    let mut arg: u32 = 0;
    for unit in code.chunks_exact(2) {
        let (op, a) = (unit[0], u32::from(unit[1]));
        if op == ops.cache {
            continue;
        }
        if op == ops.extended_arg {
            arg = (arg << 8) | a;
            continue;
        }
        let oparg = (arg << 8) | a;
        arg = 0;
        if op == ops.import_name {
            let Some(n) = name_at(oparg) else { continue };
            from.clear();
            let mut tries = Vec::new();
            if !n.is_empty() {
                tries.push(n.clone());
            }
            if !pkg.is_empty() {
                tries.push(if n.is_empty() {
                    pkg.to_string()
                } else {
                    format!("{pkg}.{n}")
                });
            }
            for t in tries {
                if known(&t) {
                    add(&t, &mut out);
                    from.push(t);
                }
            }
        } else if op == ops.import_from {
            let Some(x) = name_at(oparg) else { continue };
            for m in &from {
                let sub = format!("{m}.{x}");
                if known(&sub) {
                    add(&sub, &mut out);
                }
            }
        }
    }
    out
}

/// The layout order: `first` (indices, in their order, each alone), then
/// every module depth first along `deps`, roots taken by how many modules
/// import them, most first, ties in index order: what most programs import
/// comes next to what every start reads. Returns the order and, per module,
/// the position in it of the last module of its subtree (a module of
/// `first` is its own subtree).
pub fn plan(n: usize, first: &[usize], deps: &[Vec<usize>]) -> (Vec<usize>, Vec<usize>) {
    let mut importers = vec![0usize; n];
    for d in deps.iter().flatten() {
        importers[*d] += 1;
    }
    let mut roots: Vec<usize> = (0..n).collect();
    roots.sort_by_key(|&i| (std::cmp::Reverse(importers[i]), i));
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut last = vec![0; n];
    for &f in first {
        if !placed[f] {
            placed[f] = true;
            last[f] = order.len();
            order.push(f);
        }
    }
    for root in roots {
        if placed[root] {
            continue;
        }
        // (module, next dependency to visit); preorder, no recursion.
        let mut stack = vec![(root, 0)];
        placed[root] = true;
        order.push(root);
        while let Some((m, i)) = stack.pop() {
            if let Some(&d) = deps[m].get(i) {
                stack.push((m, i + 1));
                if !placed[d] {
                    placed[d] = true;
                    order.push(d);
                    stack.push((d, 0));
                }
            } else {
                last[m] = order.len() - 1;
            }
        }
    }
    (order, last)
}

/// Index of each name, for `imports`' `known` and its results.
pub fn index<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    names.enumerate().map(|(i, n)| (n, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_are_contiguous_and_first_stays_alone() {
        // 0 -> 1 -> 2, 0 -> 3, 3 -> 1 (already placed), 4 first -> 0;
        // 1 has the most importers, so it is the first root after 4.
        let deps = vec![vec![1, 3], vec![2], vec![], vec![1], vec![0]];
        let (order, last) = plan(5, &[4], &deps);
        assert_eq!(order, vec![4, 1, 2, 0, 3]);
        assert_eq!(last, vec![4, 2, 2, 4, 0]);
        // Without `first`, 4 (imported by none) comes last, and is alone.
        let (order, last) = plan(5, &[], &deps);
        assert_eq!(order, vec![1, 2, 0, 3, 4]);
        assert_eq!(last, vec![3, 1, 1, 3, 4]);
    }
}
