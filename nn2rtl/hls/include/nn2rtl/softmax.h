// nn2rtl HLS layer library: softmax (hls4ml's stable and latency table implementations, argmax, argmax index).
#ifndef NN2RTL_SOFTMAX_H_
#define NN2RTL_SOFTMAX_H_

#include "common.h"

namespace nn2rtl {

// The largest power of two below n (n >= 3): where a balanced sum splits.
constexpr int highest_pow2(int m) { return m < 2 ? 1 : 2 * highest_pow2(m / 2); }
constexpr int tree_split(int n) { return highest_pow2(n - 1); }

// Balanced sum: the left part holds the largest power of two below N, every partial sum cast to T.
template <class T, int N> struct tree_sum {
    static T sum(const T *v) {
#pragma HLS INLINE
        const int L = tree_split(N);
        return T(tree_sum<T, L>::sum(v) + tree_sum<T, N - L>::sum(v + L));
    }
};
template <class T> struct tree_sum<T, 1> {
    static T sum(const T *v) { return v[0]; }
};
template <class T> struct tree_sum<T, 2> {
    static T sum(const T *v) { return T(v[0] + v[1]); }
};

// The index of the first largest element.
template <class data_T, int N> int first_argmax(const data_T x[N]) {
#pragma HLS INLINE
    int best = 0;
    for (int i = 1; i < N; i++) {
#pragma HLS UNROLL
        if (x[i] > x[best]) best = i;
    }
    return best;
}

// CONFIG_T: n_in, implementation (0 stable, 1 latency), exp_bits / inv_bits (log2 of the table sizes), exp_t,
// inv_t, inv_inp_t, accum_t, norm_t (stable: the type of max - x).
template <class data_T, class res_T, class CONFIG_T, class ER, class IR>
void softmax(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in], const ER exp_table[1 << CONFIG_T::exp_bits],
             const IR inv_table[1 << CONFIG_T::inv_bits]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::accum_t accum_t;
    const int N = CONFIG_T::n_in;
    accum_t e[N];
#pragma HLS ARRAY_PARTITION variable=e complete
    const data_T xmax = x[first_argmax<data_T, N>(x)];
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        unsigned k;
        if (CONFIG_T::implementation == 0) {
            const typename CONFIG_T::norm_t d = xmax - x[i];
            k = top_bits<CONFIG_T::exp_bits>(d);
        } else {
            k = top_bits<CONFIG_T::exp_bits>(x[i]);
        }
        e[i] = from_raw<typename CONFIG_T::exp_t>(exp_table[k]);
    }
    const typename CONFIG_T::inv_inp_t s = tree_sum<accum_t, N>::sum(e);
    const typename CONFIG_T::inv_t inv = from_raw<typename CONFIG_T::inv_t>(inv_table[top_bits<CONFIG_T::inv_bits>(s)]);
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = res_T(e[i] * inv);
    }
}

// hls4ml's argmax: one (cast from ap_fixed<2,2>) at the first largest input, zero elsewhere.
template <class data_T, class res_T, class CONFIG_T> void argmax(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
    const int best = first_argmax<data_T, CONFIG_T::n_in>(x);
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        y[i] = i == best ? res_T(ap_fixed<2, 2>(1)) : res_T(0);
    }
}

// The index of the first largest input, as one unsigned integer.
template <class data_T, class res_T, class CONFIG_T> void argmax_index(const data_T x[CONFIG_T::n_in], res_T y[1]) {
#pragma HLS PIPELINE
    y[0] = res_T(first_argmax<data_T, CONFIG_T::n_in>(x));
}

}  // namespace nn2rtl

#endif
