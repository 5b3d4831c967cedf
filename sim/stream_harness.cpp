// Bulk simulation harness for an nn2rtl io_stream top level (AXI4-Stream ports), no Python per cycle.
//
// Built with -DNN2RTL_IN_WORDS=<32-bit words of s_axis_tdata> -DNN2RTL_OUT_WORDS=<words of m_axis_tdata>.
// Usage: stream_harness JOB.bin RESULT.bin
//
// Two phases. Phase 1: the first `timed` images are offered beat after beat with no gap and the output is always
// ready (the conditions the schedule states its latency and II for); then the design drains. Phase 2: the other
// images with random gaps on s_axis_tvalid and random stalls on m_axis_tready.
//
// JOB.bin (little-endian):
//   u64 magic 0x314a4f4253324e6e ("nN2SBOJ1"), u64 n_images, u64 seed, u64 in_beats (per image),
//   u64 out_beats, u64 timed, u64 valid_permille, u64 ready_permille, u64 cycle_limit, u64 drain_cycles
//   u32 inputs[n_images * in_beats][NN2RTL_IN_WORDS]
// RESULT.bin:
//   u64 magic 0x3153455253324e6e, u64 cycles, u64 hold_violations, u64 extra_beats, u64 n_in, u64 n_out,
//   u64 stall_cycles (phase-2 cycles with a valid output beat and tready low)
//   u64 in_at[n_in]                    cycle at which input beat k was taken
//   u64 out_at[n_out]                  cycle at which output beat k was taken
//   u8  tlast[n_out] (padded to 8 bytes)
//   u32 outputs[n_out][NN2RTL_OUT_WORDS]
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
    std::fprintf(stderr, "stream_harness: %s\n", what);
    std::exit(3);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) fail("usage: stream_harness JOB.bin RESULT.bin");
    FILE* jf = std::fopen(argv[1], "rb");
    if (!jf) fail("cannot open the job file");
    uint64_t hdr[10];
    if (!read_exact(jf, hdr, sizeof hdr) || hdr[0] != 0x314a4f4253324e6eULL) fail("not a job file");
    const uint64_t n_img = hdr[1], in_beats = hdr[3], out_beats = hdr[4], timed = hdr[5], valid_pm = hdr[6],
                   ready_pm = hdr[7], limit = hdr[8], drain = hdr[9];
    uint64_t rng = hdr[2];
    const uint64_t n_in = n_img * in_beats, n_out = n_img * out_beats;
    std::vector<uint32_t> inputs(n_in * NN2RTL_IN_WORDS);
    if (!read_exact(jf, inputs.data(), inputs.size() * 4)) fail("job file too short");
    std::fclose(jf);

    VerilatedContext ctx;
    Vtop top{&ctx};
    std::vector<uint64_t> in_at, out_at;
    std::vector<uint8_t> tlast;
    std::vector<uint32_t> outputs;
    in_at.reserve(n_in);
    out_at.reserve(n_out);
    outputs.reserve(n_out * NN2RTL_OUT_WORDS);
    uint32_t out_words[NN2RTL_OUT_WORDS], held[NN2RTL_OUT_WORDS];
    const uint32_t zero_in[NN2RTL_IN_WORDS] = {};

    top.rst = 1;
    top.s_axis_tvalid = 0;
    top.s_axis_tlast = 0;
    top.m_axis_tready = 1;
    set_port(top.s_axis_tdata, zero_in);
    for (int k = 0; k < 3; ++k) {
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
    }
    top.rst = 0;

    const uint64_t timed_in = timed * in_beats, timed_out = timed * out_beats;
    uint64_t k = 0, cycle = 0, hold_violations = 0, extra = 0, drained = 0, stall_cycles = 0;
    bool holding = false, phase2 = timed == 0, held_last = false;
    bool offer_prev = false;
    while (cycle < limit) {
        const bool done = out_at.size() >= n_out;
        if (done && drained >= drain) break;
        if (!phase2 && out_at.size() >= timed_out) {  // phase 1 drained: random traffic from here
            phase2 = true;
        }
        bool offering;
        if (!phase2)
            offering = k < timed_in;
        else  // a beat once offered stays offered until taken (AXI4-Stream)
            offering = k < n_in && (offer_prev || (splitmix64(rng) % 1000) < valid_pm);
        const bool ready = !phase2 || done || (splitmix64(rng) % 1000) < ready_pm;
        top.clk = 0;
        top.s_axis_tvalid = offering;
        top.s_axis_tlast = offering && (k % in_beats == in_beats - 1);
        if (offering) set_port(top.s_axis_tdata, &inputs[k * NN2RTL_IN_WORDS]);
        top.m_axis_tready = ready;
        top.eval();
        const bool out_valid = top.m_axis_tvalid;
        if (out_valid) get_port(top.m_axis_tdata, out_words);
        if (holding) {
            if (!out_valid || std::memcmp(out_words, held, sizeof held) != 0 ||
                static_cast<bool>(top.m_axis_tlast) != held_last)
                ++hold_violations;
            holding = false;
        }
        if (out_valid && ready) {
            if (done) {
                ++extra;
            } else {
                out_at.push_back(cycle);
                tlast.push_back(top.m_axis_tlast ? 1 : 0);
                outputs.insert(outputs.end(), out_words, out_words + NN2RTL_OUT_WORDS);
            }
        } else if (out_valid) {
            ++stall_cycles;
            holding = true;
            held_last = top.m_axis_tlast;
            std::memcpy(held, out_words, sizeof held);
        }
        offer_prev = offering && !top.s_axis_tready;
        if (offering && top.s_axis_tready) {
            in_at.push_back(cycle);
            ++k;
        }
        if (done) ++drained;
        top.clk = 1;
        top.eval();
        ++cycle;
    }
    top.final();

    FILE* rf = std::fopen(argv[2], "wb");
    if (!rf) fail("cannot write the result file");
    const uint64_t res[7] = {0x3153455253324e6eULL, cycle, hold_violations, extra, in_at.size(), out_at.size(),
                             stall_cycles};
    tlast.resize((tlast.size() + 7) / 8 * 8, 0);
    bool ok = std::fwrite(res, sizeof res, 1, rf) == 1;
    ok = ok && std::fwrite(in_at.data(), 8, in_at.size(), rf) == in_at.size();
    ok = ok && std::fwrite(out_at.data(), 8, out_at.size(), rf) == out_at.size();
    ok = ok && std::fwrite(tlast.data(), 1, tlast.size(), rf) == tlast.size();
    ok = ok && std::fwrite(outputs.data(), 4, outputs.size(), rf) == outputs.size();
    if (std::fclose(rf) != 0 || !ok) fail("cannot write the result file");
    return 0;
}
