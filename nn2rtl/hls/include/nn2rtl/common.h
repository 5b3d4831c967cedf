// nn2rtl HLS layer library: fixed-point helpers shared by every layer.
//
// Constants (weights, biases, tables, thresholds) are stored as their raw two's-complement integers (int8_t ..
// int64_t, ap_int beyond 64 bits), and reinterpreted bit for bit as the ap_fixed type they belong to: no decimal
// text, no rounding on the way in. In hardware the reinterpretation is wiring.
#ifndef NN2RTL_COMMON_H_
#define NN2RTL_COMMON_H_

// ap_types' own code reads uninitialised words in its constructors (harmless: they are masked); keep -Wall -Werror
// for the code that includes it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_fixed.h>
#include <ap_int.h>
#pragma GCC diagnostic pop

#include <stdint.h>

namespace nn2rtl {

// Width, fractional bits and signedness of an ap_fixed / ap_ufixed type.
template <class T> struct fx;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fx<ap_fixed<W, I, Q, O, N> > {
    static const int width = W;
    static const int frac = W - I;
    static const bool is_signed = true;
    typedef ap_int<W + 1> raw_t;  // holds the raw value of either signedness
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fx<ap_ufixed<W, I, Q, O, N> > {
    static const int width = W;
    static const int frac = W - I;
    static const bool is_signed = false;
    typedef ap_int<W + 1> raw_t;
};

// The raw integer r of x (x = r * 2^-frac), as a signed integer one bit wider than the type.
template <class T> typename fx<T>::raw_t raw_of(const T &x) {
#pragma HLS INLINE
    const int W = fx<T>::width;
    typename fx<T>::raw_t r;
    if (fx<T>::is_signed) {
        ap_int<W> s;
        s.range(W - 1, 0) = x.range(W - 1, 0);
        r = s;
    } else {
        ap_uint<W> u;
        u.range(W - 1, 0) = x.range(W - 1, 0);
        r = u;
    }
    return r;
}

// Raw constants up to 64 bits are stored as standard integers, wider ones as ap_int: both as ap_int here.
template <int W> const ap_int<W> &as_ap_int(const ap_int<W> &r) { return r; }
inline ap_int<64> as_ap_int(int r) { return ap_int<64>(r); }
inline ap_int<64> as_ap_int(long r) { return ap_int<64>(r); }
inline ap_int<64> as_ap_int(long long r) { return ap_int<64>(r); }

// The value of type T whose raw integer is r (the low bits of r, reinterpreted).
template <class T, class R> T from_raw(const R &r) {
#pragma HLS INLINE
    const int W = fx<T>::width;
    T x;
    x.range(W - 1, 0) = as_ap_int(r).range(W - 1, 0);
    return x;
}

// The most negative value of T (zero when unsigned).
template <class T> T min_value() {
#pragma HLS INLINE
    const int W = fx<T>::width;
    ap_int<W + 1> r = 0;
    if (fx<T>::is_signed) r[W - 1] = 1;
    return from_raw<T>(r);
}

// The top K bits of x's raw bits, as an unsigned index (0 when K is 0).
template <int K, class T> unsigned top_bits(const T &x) {
#pragma HLS INLINE
    const int W = fx<T>::width;
    if (K == 0) return 0;
    ap_uint<W> u;
    u.range(W - 1, 0) = x.range(W - 1, 0);
    return (unsigned)(u >> (W - (K == 0 ? 1 : K)));
}

#ifndef __SYNTHESIS__
// Software interface (the shared library and the testbench): raw values in and out as 64-bit limbs, least
// significant first, so that any width passes exactly.
template <class T> T load_limbs(const uint64_t *p) {
    const int W = fx<T>::width;
    T x;
    for (int lo = 0, k = 0; lo < W; lo += 64, k++) {
        const int hi = (lo + 63 < W) ? lo + 63 : W - 1;
        ap_uint<64> limb = p[k];
        x.range(hi, lo) = limb.range(hi - lo, 0);
    }
    return x;
}

template <class T> void store_limbs(const T &x, uint64_t *p) {
    const int W = fx<T>::width;
    for (int lo = 0, k = 0; lo < W; lo += 64, k++) {
        const int hi = (lo + 63 < W) ? lo + 63 : W - 1;
        ap_uint<64> limb = 0;
        limb.range(hi - lo, 0) = x.range(hi, lo);
        p[k] = limb.to_uint64();
    }
}

template <class T> struct limbs {
    static const int count = (fx<T>::width + 63) / 64;
};
#endif

}  // namespace nn2rtl

#endif
