//! Bytecode quickened when written: what CPython's `_PyCode_Quicken`
//! (Python/specialize.c) does to a fresh code object, done by the tool, so
//! a static code object's first import does not walk its bytecode. The
//! opcodes, whether specialization is on, and the counters' stored form
//! come from the build's layout probe; what is left here is the walk
//! itself, as each version's `_PyCode_Quicken` does it. The deep-frozen
//! tests compare the result with the running interpreter's own
//! (`_co_code_adaptive` of compiled and of static code).

use super::layout::Layout;

/// specialize.c's initial branch history of `POP_JUMP_IF_*` (3.13+):
/// alternating bits, the same bytes in either byte order.
const BRANCH_HISTORY: [u8; 2] = [0x55, 0x55];

/// How one build quickens fresh bytecode.
pub struct Quicken {
    on: bool,
    cache: u8,
    warmup: [u8; 2],
    jump: [u8; 2],
    jump_backward: u8,
    pop_jumps: [u8; 4],
    /// 3.12: (previous, current) opcode pairs and the superinstruction the
    /// previous unit becomes.
    pairs: Vec<(u8, u8, u8)>,
}

impl Quicken {
    pub fn new(l: &Layout) -> anyhow::Result<Quicken> {
        let op = |n: &str| l.get(n) as u8;
        let counter = |n: &str| -> anyhow::Result<[u8; 2]> {
            let t = l.template(n, l.at("quick_counter_size"))?;
            t.try_into()
                .map_err(|_| anyhow::anyhow!("layout probe: {n} is not a 2-byte counter"))
        };
        if l.at("code_unit_size") != 2 || l.at("quick_counter_size") != 2 {
            anyhow::bail!("layout probe: code units and counters are not 2 bytes");
        }
        let (lc, lf, sf) = (op("op_load_const"), op("op_load_fast"), op("op_store_fast"));
        let pairs = [
            (lc, lf, "op_load_const__load_fast"),
            (lf, lc, "op_load_fast__load_const"),
            (lf, lf, "op_load_fast__load_fast"),
            (sf, lf, "op_store_fast__load_fast"),
            (sf, sf, "op_store_fast__store_fast"),
        ]
        .into_iter()
        .map(|(a, b, s)| (a, b, op(s)))
        // 0 (CACHE) marks a build without superinstructions.
        .filter(|p| p.2 != 0)
        .collect();
        Ok(Quicken {
            on: l.get("specialization") != 0,
            cache: op("op_cache"),
            warmup: counter("tmpl_quick_warmup")?,
            jump: counter("tmpl_quick_jump")?,
            jump_backward: op("op_jump_backward"),
            pop_jumps: [
                op("op_pop_jump_if_false"),
                op("op_pop_jump_if_true"),
                op("op_pop_jump_if_none"),
                op("op_pop_jump_if_not_none"),
            ],
            pairs,
        })
    }

    /// Quicken `code` (2-byte units: opcode, oparg) in place. An instruction
    /// owns the CACHE units that follow it, as the compiler lays them out
    /// (`_PyOpcode_Caches`); the first holds its counter.
    pub fn apply(&self, code: &mut [u8]) {
        if !self.on {
            return;
        }
        let n = code.len() / 2;
        let mut prev: Option<u8> = None;
        let mut i = 0;
        while i < n {
            let op = code[2 * i];
            let mut caches = 0;
            while i + 1 + caches < n && code[2 * (i + 1 + caches)] == self.cache {
                caches += 1;
            }
            if caches > 0 {
                let counter = if op == self.jump_backward {
                    self.jump
                } else if self.pop_jumps.contains(&op) {
                    BRANCH_HISTORY
                } else {
                    self.warmup
                };
                code[2 * (i + 1)..2 * (i + 2)].copy_from_slice(&counter);
            } else if let Some(p) = prev {
                if let Some(&(_, _, sup)) = self.pairs.iter().find(|&&(a, b, _)| a == p && b == op)
                {
                    code[2 * (i - 1)] = sup;
                }
            }
            prev = Some(op);
            i += 1 + caches;
        }
    }
}
