// nn2rtl HLS layer library: element-wise activations.
//
// Piecewise functions compute exactly in ap_fixed (products and sums are full precision) and cast once to the
// result type. Table activations index a table of raw table_t entries the way the RTL does (a shift, an add and
// a clamp of the raw input), so both give the same bits.
#ifndef NN2RTL_ACTIVATION_H_
#define NN2RTL_ACTIVATION_H_

#include "common.h"

namespace nn2rtl {

// CONFIG_T for every element-wise layer: n_in.
template <class data_T, class res_T, class CONFIG_T> void relu(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        y[i] = x[i] > 0 ? res_T(x[i]) : res_T(0);
    }
}

// x > 0 ? x : alpha * x, alpha of param_t, one per element when per_element (PRelu) else one for all.
template <class data_T, class res_T, class CONFIG_T, class AR>
void leaky_relu(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const AR alpha[]) {
#pragma HLS PIPELINE
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const typename CONFIG_T::param_t a = from_raw<typename CONFIG_T::param_t>(alpha[CONFIG_T::per_element ? i : 0]);
        y[i] = x[i] > 0 ? res_T(x[i]) : res_T(a * x[i]);
    }
}

// x > theta ? x : 0 (compared exactly).
template <class data_T, class res_T, class CONFIG_T, class TR>
void thresholded_relu(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const TR theta[1]) {
#pragma HLS PIPELINE
    const typename CONFIG_T::param_t t = from_raw<typename CONFIG_T::param_t>(theta[0]);
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        y[i] = x[i] > t ? res_T(x[i]) : res_T(0);
    }
}

// min(max(x, lo), hi) in hls4ml's order: above hi gives hi, below lo gives lo (has_min / has_max; bounds[0] = lo,
// bounds[1] = hi, of param_t).
template <class data_T, class res_T, class CONFIG_T, class BR>
void clip(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const BR bounds[2]) {
#pragma HLS PIPELINE
    const typename CONFIG_T::param_t lo = from_raw<typename CONFIG_T::param_t>(bounds[0]);
    const typename CONFIG_T::param_t hi = from_raw<typename CONFIG_T::param_t>(bounds[1]);
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        res_T v = res_T(x[i]);
        if (CONFIG_T::has_max && x[i] > hi) v = res_T(hi);
        if (CONFIG_T::has_min && x[i] < lo) v = res_T(lo);
        y[i] = v;
    }
}

// clip(slope * x + shift, 0, one) computed exactly in wide_t, then cast (hls4ml's hard_sigmoid).
template <class data_T, class res_T, class CONFIG_T, class SR, class HR, class OR>
void hard_sigmoid(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const SR slope[1], const HR shift[1],
                  const OR one[1]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::wide_t wide_t;
    const typename CONFIG_T::slope_t s = from_raw<typename CONFIG_T::slope_t>(slope[0]);
    const typename CONFIG_T::shift_t h = from_raw<typename CONFIG_T::shift_t>(shift[0]);
    const wide_t top = from_raw<wide_t>(one[0]);
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        wide_t t = s * x[i] + h;
        if (t < 0) t = 0;
        if (t > top) t = top;
        y[i] = res_T(t);
    }
}

// Table index of raw input r (the RTL's computation). CONFIG_T: table_mode (0: hls4ml two-sided, 1: hls4ml
// one-sided, i.e. x < 0 only, 2: centred/fitted from lo), table_shift s (the index steps every 2^s input LSBs),
// table_size, table_extra (bits lo needs beyond the input width).
template <class CONFIG_T, class RAW, class LR> int table_index(const RAW &r, const LR &lo) {
#pragma HLS INLINE
    const int S = CONFIG_T::table_shift;
    const int L = S < 0 ? -S : 0;
    typedef ap_int<RAW::width + 4 + L + CONFIG_T::table_extra> wide;
    wide q;
    if (CONFIG_T::table_mode == 0) {
        wide a = r < 0 ? wide(-r) : wide(r);
        a = S >= 0 ? wide(a >> (S >= 0 ? S : 0)) : wide(a << L);
        q = r < 0 ? wide(-a) : a;
        q += CONFIG_T::table_size / 2;
    } else if (CONFIG_T::table_mode == 1) {
        wide v = -r;
        q = S >= 0 ? wide(v >> (S >= 0 ? S : 0)) : wide(v << L);
    } else {
        wide v = wide(r) - wide(lo);
        q = S >= 0 ? wide(v >> (S >= 0 ? S : 0)) : wide(v << L);
    }
    if (q < 0) return 0;
    if (q > CONFIG_T::table_size - 1) return CONFIG_T::table_size - 1;
    return q.to_int();
}

// A table activation: y = kind 0: table(x); 1 (ELU): x >= 0 ? x : scale * table(x); 2 (SELU):
// x >= 0 ? scale * x : table(x). CONFIG_T: n_in, table_t, scale_t, kind, and table_index's members; lo[0] is the
// table's first input as a raw value of data_T (centred/fitted tables), scale[0] a raw scale_t.
template <class data_T, class res_T, class CONFIG_T, class TR, class LR, class SR>
void table_activation(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const TR table[CONFIG_T::table_size],
                      const LR lo[1], const SR scale[1]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::table_t table_t;
    const typename CONFIG_T::scale_t c = from_raw<typename CONFIG_T::scale_t>(scale[0]);
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        const table_t t = from_raw<table_t>(table[table_index<CONFIG_T>(raw_of(x[i]), lo[0])]);
        if (CONFIG_T::kind == 1) {
            y[i] = x[i] >= 0 ? res_T(x[i]) : res_T(c * t);
        } else if (CONFIG_T::kind == 2) {
            y[i] = x[i] >= 0 ? res_T(c * x[i]) : res_T(t);
        } else {
            y[i] = res_T(t);
        }
    }
}

}  // namespace nn2rtl

#endif
