// nn2rtl HLS layer library: merges, concatenation and data movement.
#ifndef NN2RTL_MERGE_H_
#define NN2RTL_MERGE_H_

#include "common.h"

namespace nn2rtl {

// Element-wise a op b, exact (both operands in exact_t, which holds the result), then one cast to the result.
// CONFIG_T: n_in, op (0 add, 1 sub, 2 mul, 3 max, 4 min), exact_t.
template <class a_T, class b_T, class res_T, class CONFIG_T>
void merge(const a_T a[CONFIG_T::n_in], const b_T b[CONFIG_T::n_in], res_T y[CONFIG_T::n_in]) {
#pragma HLS PIPELINE
    typedef typename CONFIG_T::exact_t exact_t;
    for (int i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        if (CONFIG_T::op == 2) {
            y[i] = res_T(a[i] * b[i]);
        } else {
            const exact_t ea = a[i], eb = b[i];
            if (CONFIG_T::op == 0) y[i] = res_T(ea + eb);
            else if (CONFIG_T::op == 1) y[i] = res_T(ea - eb);
            else if (CONFIG_T::op == 3) y[i] = res_T(ea > eb ? ea : eb);
            else y[i] = res_T(ea < eb ? ea : eb);
        }
    }
}

// y[j] = x[idx[j]], or zero where idx[j] is -1 (transposes, padding, upsampling, concatenation order).
// CONFIG_T: n_in, n_out.
template <class data_T, class res_T, class CONFIG_T>
void permute(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out], const int idx[CONFIG_T::n_out]) {
#pragma HLS INLINE
    for (int j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS UNROLL
        y[j] = idx[j] < 0 ? res_T(0) : res_T(x[idx[j]]);
    }
}

// y[i] = cast(x[i]) for N elements (a concatenation's inputs, cast to its result type; Identity).
template <class data_T, class res_T, int N> void cast_copy(const data_T x[N], res_T y[N]) {
#pragma HLS INLINE
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = res_T(x[i]);
    }
}

}  // namespace nn2rtl

#endif
