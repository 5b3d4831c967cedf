// Bulk simulation harness for an nn2rtl top level (Verilator --cc --exe), no Python per cycle.
//
// The same protocol and checks as the cocotb testbench (sim/tb_design.py), at C++ speed. Built with
//   -DNN2RTL_IN_WORDS=<32-bit words of in_data> -DNN2RTL_OUT_WORDS=<words of out_data>
// Usage: harness JOB.bin RESULT.bin
//
// JOB.bin (little-endian):
//   u64 magic 0x314a4f42'4c52326e ("n2RLBOJ1"), u64 n_vectors, u64 seed, u64 stall_from (n_vectors: never),
//   u64 ready_permille (consumer takes a result with this probability while stalling), u64 drain_cycles,
//   u64 cycle_limit, u64 flags (bit 0: in_ready must be low while the output stalls; bit 1: low in the cycle after
//   each stalled one instead, FlowControl skid, whose enable is a register)
//   u32 gaps[n_vectors]                         idle cycles before vector k is offered
//   u32 inputs[n_vectors][NN2RTL_IN_WORDS]      in_data words, least significant first
// RESULT.bin:
//   u64 magic 0x31534552'4c52326e, u64 cycles, u64 stall_cycles, u64 hold_violations, u64 ready_while_stalled,
//   u64 extra_results, u64 accepted, u64 results
//   u64 accepted_at[accepted]                   enabled cycle at which input k was taken
//   u64 result_at[results]                      enabled cycle at which result k was taken
//   u32 outputs[results][NN2RTL_OUT_WORDS]
//   u64 accepted_stalls[accepted]               stalled cycles before input k was taken
//   u64 result_stalls[results]                  stalled cycles before result k was taken
// "Enabled" cycles are those in which no result is held back (out_valid & ~out_ready is false): the pipeline of a
// stalling design advances in exactly those, so latency and II are counted in them. A design whose pipeline never
// stops (FlowControl fifo) is timed on the inputs and results with no stalled cycle before them. A design whose
// enable is a register (FlowControl skid) stops a cycle later and restarts a cycle later, as many cycles: counted
// this way, its latency and II come out the same (the cycle an input is taken and the cycle its result is made both
// follow an unstalled one).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "Vtop.h"
#include "verilated.h"
#include "harness_util.h"

#ifndef NN2RTL_IN_WORDS
#error "define NN2RTL_IN_WORDS"
#endif
#ifndef NN2RTL_OUT_WORDS
#error "define NN2RTL_OUT_WORDS"
#endif

using nn2rtl::get_port;
using nn2rtl::read_exact;
using nn2rtl::set_port;
using nn2rtl::splitmix64;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "harness: %s\n", what);
    std::exit(3);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) fail("usage: harness JOB.bin RESULT.bin");
    FILE* jf = std::fopen(argv[1], "rb");
    if (!jf) fail("cannot open the job file");
    uint64_t hdr[8];
    if (!read_exact(jf, hdr, sizeof hdr) || hdr[0] != 0x314a4f424c52326eULL) fail("not a job file");
    const uint64_t n_vec = hdr[1], stall_from = hdr[3], ready_permille = hdr[4], drain = hdr[5],
                   limit = hdr[6], flags = hdr[7];
    uint64_t rng = hdr[2];
    std::vector<uint32_t> gaps(n_vec), inputs(n_vec * NN2RTL_IN_WORDS);
    if (!read_exact(jf, gaps.data(), gaps.size() * 4) || !read_exact(jf, inputs.data(), inputs.size() * 4))
        fail("job file too short");
    std::fclose(jf);

    VerilatedContext ctx;
    Vtop top{&ctx};
    std::vector<uint64_t> accepted_at, result_at, accepted_stalls, result_stalls;
    std::vector<uint32_t> outputs;
    accepted_at.reserve(n_vec);
    result_at.reserve(n_vec);
    outputs.reserve(n_vec * NN2RTL_OUT_WORDS);
    uint32_t out_words[NN2RTL_OUT_WORDS], held[NN2RTL_OUT_WORDS];
    const uint32_t zero_in[NN2RTL_IN_WORDS] = {};

    // reset for three cycles
    top.rst = 1;
    top.in_valid = 0;
    top.out_ready = 1;
    set_port(top.in_data, zero_in);
    for (int k = 0; k < 3; ++k) {
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
    }
    top.rst = 0;

    uint64_t k = 0, cycle = 0, enabled = 0, stall_cycles = 0, hold_violations = 0, ready_while_stalled = 0;
    uint64_t extra = 0, drained = 0;
    uint64_t idle = n_vec ? gaps[0] : 0;
    bool holding = false;
    const bool check_ready = flags & 1, ready_lag = flags & 2;
    bool prev_stalled = false;
    // Inputs change while the clock is low; handshakes are sampled after the combinational settle, before the
    // rising edge.
    while (cycle < limit) {
        const bool done = result_at.size() >= n_vec;
        if (done && drained >= drain) break;
        const bool offering = k < n_vec && idle == 0;
        bool stalling = false;
        if (!done && k >= stall_from)
            stalling = (splitmix64(rng) % 1000) >= ready_permille;
        top.clk = 0;
        top.in_valid = offering;
        if (offering) set_port(top.in_data, &inputs[k * NN2RTL_IN_WORDS]);
        top.out_ready = !stalling;
        top.eval();
        const bool out_valid = top.out_valid;
        if (out_valid) get_port(top.out_data, out_words);
        if (holding) {
            if (!out_valid || std::memcmp(out_words, held, sizeof held) != 0) ++hold_violations;
            holding = false;
        }
        if (out_valid && !stalling) {
            if (done) {
                ++extra;
            } else {
                result_at.push_back(enabled);
                result_stalls.push_back(stall_cycles);
                outputs.insert(outputs.end(), out_words, out_words + NN2RTL_OUT_WORDS);
            }
        } else if (out_valid) {
            holding = true;
            std::memcpy(held, out_words, sizeof held);
            if (check_ready && !ready_lag && top.in_ready) ++ready_while_stalled;
        }
        if (check_ready && ready_lag && prev_stalled && top.in_ready) ++ready_while_stalled;
        prev_stalled = out_valid && stalling;
        if (offering && top.in_ready) {
            accepted_at.push_back(enabled);
            accepted_stalls.push_back(stall_cycles);
            ++k;
            idle = k < n_vec ? gaps[k] : 0;
        } else if (!offering && idle) {
            --idle;
        }
        if (out_valid && stalling) ++stall_cycles; else ++enabled;
        if (done) ++drained;
        top.clk = 1;
        top.eval();
        ++cycle;
    }
    top.final();

    FILE* rf = std::fopen(argv[2], "wb");
    if (!rf) fail("cannot write the result file");
    const uint64_t res[8] = {0x31534552'4c52326eULL, cycle, stall_cycles, hold_violations, ready_while_stalled,
                             extra, accepted_at.size(), result_at.size()};
    bool ok = std::fwrite(res, sizeof res, 1, rf) == 1;
    ok = ok && std::fwrite(accepted_at.data(), 8, accepted_at.size(), rf) == accepted_at.size();
    ok = ok && std::fwrite(result_at.data(), 8, result_at.size(), rf) == result_at.size();
    ok = ok && std::fwrite(outputs.data(), 4, outputs.size(), rf) == outputs.size();
    ok = ok && std::fwrite(accepted_stalls.data(), 8, accepted_stalls.size(), rf) == accepted_stalls.size();
    ok = ok && std::fwrite(result_stalls.data(), 8, result_stalls.size(), rf) == result_stalls.size();
    if (std::fclose(rf) != 0 || !ok) fail("cannot write the result file");
    return 0;
}
