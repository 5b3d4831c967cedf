// nn2rtl HLS layer library: dense products (Dense, and Conv as a dense product per window).
//
// Every product is exact, then cast to accum_t; the products are added to the bias (cast to accum_t) in input
// order, each sum cast to accum_t; the sum is cast to the result type. With a wrapping accumulator (the default)
// the order does not matter and any adder tree gives the same bits.
#ifndef NN2RTL_DENSE_H_
#define NN2RTL_DENSE_H_

#include "common.h"

namespace nn2rtl {

// The constants of a layer as values of their ap_fixed type, in `name`. In hardware the reinterpretation is
// wiring; in a software build (C simulation, predict) it is done once per layer, in a static of the layer's own
// template instantiation, not on every call.
template <class T, int N> struct typed_array {
    T v[N];
    template <class R> explicit typed_array(const R *raw) {
        for (int i = 0; i < N; i++) v[i] = from_raw<T>(raw[i]);
    }
};
#define NN2RTL_PRAGMA(x) _Pragma(#x)
#ifdef __SYNTHESIS__
#define NN2RTL_TYPED(T, N, name, raw)                                  \
    T name[N];                                                         \
    NN2RTL_PRAGMA(HLS ARRAY_PARTITION variable=name complete)          \
    for (int name##_i = 0; name##_i < (N); name##_i++) name[name##_i] = from_raw<T>(raw[name##_i]);
#else
#define NN2RTL_TYPED(T, N, name, raw)                   \
    static const typed_array<T, (N)> name##_table(raw); \
    const T *name = name##_table.v;
#endif

// One dense product: y[j] = cast(b[j] + sum_i cast(x[i] * w[i][j])), w row-major (n_in x n_out), weights and
// biases as values. CONFIG_T: weight_t, bias_t, accum_t.
template <int N_IN, int N_OUT, class data_T, class res_T, class CONFIG_T>
void dense_kernel(const data_T x[N_IN], res_T y[N_OUT], const typename CONFIG_T::weight_t w[N_IN * N_OUT],
                  const typename CONFIG_T::bias_t b[N_OUT]) {
#pragma HLS INLINE
    typedef typename CONFIG_T::accum_t accum_t;
    accum_t acc[N_OUT];
#pragma HLS ARRAY_PARTITION variable=acc complete
    for (int j = 0; j < N_OUT; j++) {
#pragma HLS UNROLL
        acc[j] = b[j];
    }
    for (int i = 0; i < N_IN; i++) {
#pragma HLS UNROLL
        for (int j = 0; j < N_OUT; j++) {
#pragma HLS UNROLL
            acc[j] += accum_t(x[i] * w[i * N_OUT + j]);
        }
    }
    for (int j = 0; j < N_OUT; j++) {
#pragma HLS UNROLL
        y[j] = res_T(acc[j]);
    }
}

// Dense layer. CONFIG_T: n_in, n_out, reuse_factor, multiplier_limit (ceil(n_in * n_out / reuse_factor)),
// weight_t, bias_t, accum_t.
template <class data_T, class res_T, class CONFIG_T, class WR, class BR>
void dense(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out], const WR w[CONFIG_T::n_in * CONFIG_T::n_out],
           const BR b[CONFIG_T::n_out]) {
#pragma HLS PIPELINE II=CONFIG_T::reuse_factor
#pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit
#pragma HLS ARRAY_PARTITION variable=w complete
#pragma HLS ARRAY_PARTITION variable=b complete
    NN2RTL_TYPED(typename CONFIG_T::weight_t, CONFIG_T::n_in * CONFIG_T::n_out, wv, w)
    NN2RTL_TYPED(typename CONFIG_T::bias_t, CONFIG_T::n_out, bv, b)
    dense_kernel<CONFIG_T::n_in, CONFIG_T::n_out, data_T, res_T, CONFIG_T>(x, y, wv, bv);
}

// Convolution in the channels-last layout: for every output pixel p and group g, the window
// x[idx[p][g][k]] (k < window; -1 reads zero padding) times the group's weights w[g] (window x filters_per_group),
// written to y[(p * groups + g) * filters_per_group + f]. CONFIG_T: n_in, n_out, pixels, groups, window,
// filters_per_group, reuse_factor, multiplier_limit, weight_t, bias_t, accum_t.
template <class data_T, class res_T, class CONFIG_T, class WR, class BR>
void conv(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
          const int idx[CONFIG_T::pixels * CONFIG_T::groups * CONFIG_T::window],
          const WR w[CONFIG_T::groups * CONFIG_T::window * CONFIG_T::filters_per_group],
          const BR b[CONFIG_T::groups * CONFIG_T::filters_per_group]) {
#pragma HLS PIPELINE II=CONFIG_T::reuse_factor
#pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit
#pragma HLS ARRAY_PARTITION variable=w complete
#pragma HLS ARRAY_PARTITION variable=b complete
    const int K = CONFIG_T::window, F = CONFIG_T::filters_per_group, G = CONFIG_T::groups;
    NN2RTL_TYPED(typename CONFIG_T::weight_t, G * K * F, wv, w)
    NN2RTL_TYPED(typename CONFIG_T::bias_t, G * F, bv, b)
    for (int p = 0; p < CONFIG_T::pixels; p++) {
#pragma HLS UNROLL
        for (int g = 0; g < G; g++) {
#pragma HLS UNROLL
            data_T win[K];
#pragma HLS ARRAY_PARTITION variable=win complete
            for (int k = 0; k < K; k++) {
#pragma HLS UNROLL
                const int i = idx[(p * G + g) * K + k];
                win[k] = i < 0 ? data_T(0) : x[i];
            }
            dense_kernel<K, F, data_T, res_T, CONFIG_T>(win, &y[(p * G + g) * F], &wv[g * K * F], &bv[g * F]);
        }
    }
}

}  // namespace nn2rtl

#endif
