// Helpers shared by the Verilator harnesses (harness.cpp, stream_harness.cpp): ports of any width as 32-bit
// words, a seeded generator, exact reads.
#pragma once
#include <cstdint>
#include <cstdio>

#include "verilated.h"

namespace nn2rtl {

// Ports up to 64 bits are integers; wider ones are VlWide arrays of 32-bit words.
template <typename T>
void set_port(T& port, const uint32_t* w) {
    uint64_t v = w[0];
    if (sizeof(T) > 4) v |= static_cast<uint64_t>(w[1]) << 32;
    port = static_cast<T>(v);
}
template <std::size_t N>
void set_port(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t k = 0; k < N; ++k) port[k] = w[k];
}
template <typename T>
void get_port(const T& port, uint32_t* w) {
    uint64_t v = port;
    w[0] = static_cast<uint32_t>(v);
    if (sizeof(T) > 4) w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
void get_port(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t k = 0; k < N; ++k) w[k] = port[k];
}

inline uint64_t splitmix64(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

inline bool read_exact(FILE* f, void* p, size_t n) { return std::fread(p, 1, n, f) == n; }

}  // namespace nn2rtl
