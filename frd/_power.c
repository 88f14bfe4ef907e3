/*
 * frd/_power.c -- x**3 and x**4 for negative float64 x, bit-identical to what
 * numpy (built with Intel SVML, AVX-512) returns from np.power(x, y).
 * frd/power.py uses it only after checking, in each process, that it gives
 * numpy's values there (another numpy build or CPU computes power otherwise).
 *
 * Why this exists: numpy's AVX-512 power sends every lane with a negative
 * base to SVML's scalar "rare case" routine, which is slow.  Its results
 * are neither libm's pow nor correctly rounded, so matching them bit for
 * bit means redoing that routine's arithmetic.  This file is an independent
 * implementation of the same sequence of double-precision operations,
 * specialised to: x negative, finite, normal; y = 3 or y = 4.  Everything
 * else (positive x, which numpy computes with a different vector algorithm,
 * -0, denormals, inf, NaN, results that overflow or would be denormal, and
 * x so close to -1 that the routine takes its "result is about 1" shortcut,
 * which no double other than -1 itself is) is reported as unhandled so the
 * caller can use numpy for it.  x == -1 is answered exactly, as the
 * routine does.
 *
 * Algorithm (all plain IEEE double operations, round to nearest, no FMA;
 * compile with -ffp-contract=off so the compiler does not fuse any):
 *   1. |x| = 2^e * m, m in [1,2); e is chosen so that m is effectively taken
 *      in [0.742, 1.484) (mantissas >= 1.484375 bump e by one; the first log
 *      table entries for those carry the corresponding -1).
 *   2. log2(m) via three table reductions r1 = m*c1, r2 = r1*c2, r3 = r2*c3,
 *      each c a short reciprocal chosen by the leading bits of the previous
 *      value; c3 additionally carries the factor L ~ log2(e), so r3 ~ L and
 *      u = r3 - L is already in log2 units.  The rounding error of
 *      r3 = m*(c1*c2*c3) is recovered exactly with Dekker splitting, and
 *      log2|x| = (e + sum of table his + u) + (lows + polynomial in u) is
 *      carried as a double-double.
 *   3. Multiply the double-double by y (split the same way), round the
 *      product to a multiple of 1/128 with the 1.5*2^45 shifter, evaluate
 *      2^f - 1 by a degree-5 polynomial, scale by a 2^(t/128) table entry
 *      (hi + lo) and finally by 2^(n>>7) by writing the exponent field.
 *   4. Sign: odd y gives a negative result for negative x.
 */
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "_power_tables.h"

#define SP_SPLIT   134217729.0      /* 2^27 + 1: Dekker splitting constant  */
#define SP_SHIFTER 0x1.8p45         /* adding it rounds to a multiple of 2^-7 */

#if defined(__GNUC__)
#define SP_INLINE static inline __attribute__((always_inline))
#else
#define SP_INLINE static inline
#endif

static inline uint64_t as_u64(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double as_f64(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* Upper 32 bits of a double: the routine picks its table indices from
 * bits of this word. */
static inline uint32_t hi32(double d) { return (uint32_t)(as_u64(d) >> 32); }

/*
 * One element.  Written without early exits, in the same shape as the
 * AVX-512 version below (which has to compute every lane anyway): all table
 * indices stay in range for any input bits, so an unsupported input just
 * produces a garbage value that the returned flag marks as unusable.
 * Returns 1 if *res is numpy's result, 0 if the caller must fall back.
 * yv is 3 or 4 (a compile-time constant after inlining).
 */
SP_INLINE int pow_neg_one(double x, int yv, double *res)
{
    const uint64_t ux = as_u64(x);
    const uint64_t ua = ux & 0x7fffffffffffffffULL;       /* |x| */
    const uint64_t ex = ua >> 52;

    /* negative, normal, finite only.  (Positives take SVML's vector path,
     * not this algorithm; -0, denormals, inf and NaN take other branches of
     * the scalar routine.) */
    int ok = (ux >> 63) & (ex != 0) & (ex != 2047);

    const double y = (double)yv;

    /* --- step 1: exponent and mantissa --------------------------------- */
    /* Subtracting 0x3FE7C000 from the high word (then arithmetic shift)
     * gives ex-1023 for mantissas below 1.484375 and ex-1022 above.
     * (>> of a negative int is arithmetic on GCC/Clang, as the asm's sar.) */
    const int32_t e = (int32_t)((uint32_t)(ua >> 32) - 0x3FE7C000u) >> 20;
    const double m = as_f64((ua & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);

    /* --- step 2: log2|x| as a double-double ----------------------------- */
    /* first reduction: 5 leading mantissa bits, rounded */
    const int i = (int)((hi32(m) & 0xFC000u) + 0x4000u) >> 15;
    const double c1 = sp_rcp1[i];
    const double r1 = c1 * m;
    double E = (double)e;
    const double m_big = SP_SPLIT * m;
    E = E + sp_log1_hi[i];
    /* second reduction: r1 is within ~2^-6 of 1; bits 2^-5..2^-9 of its
     * mantissa (which wrap around when r1 < 1, hence the two-sided table) */
    const int j = (int)((hi32(r1) & 0xFC00u) + 0x400u) >> 11;
    const double m_t = m_big - m;
    const double c2 = sp_rcp2[j];
    const double r2 = r1 * c2;
    E = E + sp_log2_hi[j];
    double R = c1 * c2;
    const double m_hi = m_big - m_t;                 /* Dekker split of m */
    /* third reduction: 7 more bits */
    const int k = (int)((hi32(r2) & 0xFF0u) + 0x10u) >> 5;
    const double c3 = sp_rcp3[k];
    R = R * c3;                                      /* c1*c2*c3 (exact) */
    const double m_lo = m - m_hi;
    E = E + sp_log3_hi[k];
    const double r3 = r2 * c3;                       /* ~ L */
    const double u_hi = r3 - SP_L;                   /* exact (Sterbenz) */

    /* err = m*R - r3 exactly (rounding error of the three products) */
    const double R_big = SP_SPLIT * R;
    const double R_t = R_big - R;
    const double R_hi = R_big - R_t;
    const double R_lo = R - R_hi;
    double err = m_hi * R_hi - r3;
    err = err + R_hi * m_lo;
    const double H = E + u_hi;
    err = err + m_hi * R_lo;
    err = err + m_lo * R_lo;
    const double H_lo = (E - H) + u_hi;

    /* The routine switches to other code when y*log2|x| is huge (result
     * overflows / underflows) or tiny (result rounds to about 1): test the
     * exponent of H plus the biased exponent of y as it does. */
    {
        const int ey = (yv == 3) ? 1024 : 1025;      /* biased exponent of y */
        const int s = (int)((as_u64(H) >> 52) & 0x7ff) + ey;
        ok &= (s < 2057) & (s > 1984);
    }

    const double u = u_hi + err;
    double Tlo = sp_log2_lo[j] + sp_log3_lo[k];
    const double e2 = err + H_lo;
    double P = sp_plog[3] * u;
    Tlo = sp_log1_lo[i] + Tlo;
    P = P + sp_plog[2];
    Tlo = Tlo + e2;
    P = P * u;
    P = P + sp_plog[1];
    P = P * u;
    P = P + sp_plog[0];
    P = P * u;                    /* log2(r3/L) - u, small */

    /* (H + P) and then + Tlo, each with its rounding error kept */
    const double Y_hi = H + P;
    const double Y_lo = (H - Y_hi) + P;
    const double Z_hi = Tlo + Y_hi;
    double Z_lo = (Y_hi - Z_hi) + Tlo;
    const double Z_big = SP_SPLIT * Z_hi;
    Z_lo = Z_lo + Y_lo;

    /* --- step 3: times y, then exp2 ------------------------------------- */
    const double Zy_lo = Z_lo * y;
    const double Z_t = Z_big - Z_hi;
    const double Zh = Z_big - Z_t;                   /* Dekker split of Z_hi */
    const double Zl = Z_hi - Zh;
    /* The routine splits y too; for y = 3 or 4 the low half is exactly 0,
     * so its products are +-0 and cannot change any sum below (a nonzero
     * value plus +-0 is unchanged, and if everything were zero the final
     * result is the table entry regardless of the sign of that zero). */
    const double p_hh = y * Zh;                      /* exact: Zh has 26 bits */
    const double shifted = SP_SHIFTER + p_hh;
    double rest = y * Zl;
    rest = rest + Zy_lo;
    const double N = shifted - SP_SHIFTER;           /* p_hh rounded to k/128 */
    const double f_hi = p_hh - N;
    /* low word of the shifted sum holds the integer n = round(128*p_hh) */
    const int32_t n = (int32_t)(uint32_t)as_u64(shifted);
    const double f = f_hi + rest;
    const int t = n & 127;
    const double T_hi = sp_exp2_hi[t];
    const int32_t sc = n >> 7;                       /* arithmetic shift */

    double Q = sp_pexp[4] * f;
    Q = Q + sp_pexp[3];
    Q = Q * f;
    Q = Q + sp_pexp[2];
    Q = Q * f;
    Q = Q + sp_pexp[1];
    Q = Q * f;
    Q = Q + sp_pexp[0];
    Q = Q * f;                                       /* 2^f - 1 */
    Q = Q * T_hi;
    Q = Q + sp_exp2_lo[t];
    const double r = Q + T_hi;                       /* 2^(t/128 + f), ~[1,2] */

    /* --- step 4: scale by 2^sc via the exponent field, then the sign ---- */
    const uint64_t ur = as_u64(r);
    const int64_t efin = (int64_t)sc + (int64_t)((ur >> 52) & 0x7ff) - 1023;
    ok &= (efin < 1024) & (efin >= -1022);          /* else overflow / denormal */
    uint64_t out = (ur & 0x000fffffffffffffULL) | ((uint64_t)(efin + 1023) << 52);
    /* The routine answers x == -1 directly with +-1 (exact). */
    if (x == -1.0) {
        out = 0x3ff0000000000000ULL;
        ok = 1;
    }
    if (yv & 1)
        out |= 0x8000000000000000ULL;                /* times -1.0: exact */
    /* unusable lanes get a NaN so that nobody mistakes them for results */
    if (!ok)
        out = 0x7ff8000000000000ULL;
    *res = as_f64(out);
    return ok;
}

/* Portable loop (any x86-64 / any CPU), and the tail of the vector loop. */
static long loop_scalar(const double *x, ptrdiff_t n, int y,
                        double *out, uint8_t *unhandled)
{
    long nbad = 0;
    for (ptrdiff_t idx = 0; idx < n; idx++) {
        double v;
        const int ok = (y == 3) ? pow_neg_one(x[idx], 3, &v) : pow_neg_one(x[idx], 4, &v);
        const int bad = (!ok) & (int)(as_u64(x[idx]) >> 63); /* the sign bit set: ours to answer */
        if (ok)
            out[idx] = v;
        unhandled[idx] = (uint8_t)bad;
        nbad += bad;
    }
    return nbad;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define SP_HAVE_AVX512 1
#define SP_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))

/*
 * Eight elements at a time with AVX-512.  This is pow_neg_one() line by line
 * (same variable names); each scalar add/sub/mul becomes the vector
 * instruction of the same IEEE operation, so every lane rounds exactly as
 * the scalar code does.  No FMA instruction is used anywhere.  Table reads
 * become gathers (large tables) or register permutes (33-entry tables).  Integer work is done in 64-bit lanes; where the scalar
 * code uses 32-bit arithmetic, the values involved fit so the results agree.
 */
static SP_AVX512 inline __m512i sp_hi32(__m512d v)    /* upper 32 bits */
{
    return _mm512_srli_epi64(_mm512_castpd_si512(v), 32);
}
#define SP_C64(c) _mm512_set1_epi64((long long)(c))
#define SP_CD(c)  _mm512_set1_pd(c)

/* A 33-entry table held in registers: lookups by permutes instead of
 * gathers (much cheaper).  Entries 0..31 in v[0..3], entry 32 in v32. */
typedef struct { __m512d v[4]; __m512d v32; } sp_tab33;

static SP_AVX512 inline void sp_tab33_load(sp_tab33 *t, const double *tab)
{
    for (int q = 0; q < 4; q++)
        t->v[q] = _mm512_loadu_pd(tab + 8 * q);
    t->v32 = _mm512_set1_pd(tab[32]);
}

static SP_AVX512 inline __m512d sp_lut33(const sp_tab33 *t, __m512i idx)
{
    /* permutex2var uses the low 4 bits of each index: entries 0..15 and
     * 16..31 are looked up separately and chosen by bit 4 */
    const __m512d lo = _mm512_permutex2var_pd(t->v[0], idx, t->v[1]);
    const __m512d hi = _mm512_permutex2var_pd(t->v[2], idx, t->v[3]);
    const __mmask8 b4 = _mm512_test_epi64_mask(idx, _mm512_set1_epi64(16));
    const __mmask8 e32 = _mm512_cmpeq_epi64_mask(idx, _mm512_set1_epi64(32));
    return _mm512_mask_mov_pd(_mm512_mask_mov_pd(lo, b4, hi), e32, t->v32);
}

/* the six 33-entry tables, loaded once per call */
typedef struct { sp_tab33 rc1, rc2, l1h, l1l, l2h, l2l; } sp_regtabs;

static SP_AVX512 inline __attribute__((always_inline))
__mmask8 pow_neg_8(const double *px, int yv, double *pout, const sp_regtabs *tb)
{
    const sp_tab33 *RC1 = &tb->rc1, *RC2 = &tb->rc2, *L1H = &tb->l1h, *L1L = &tb->l1l,
                   *L2H = &tb->l2h, *L2L = &tb->l2l;
    const __m512d x = _mm512_loadu_pd(px);
    const __m512i ux = _mm512_castpd_si512(x);
    const __m512i ua = _mm512_and_si512(ux, SP_C64(0x7fffffffffffffffULL));
    const __m512i ex = _mm512_srli_epi64(ua, 52);
    __mmask8 ok = _mm512_cmplt_epi64_mask(ux, _mm512_setzero_si512())   /* sign set */
                & _mm512_cmpneq_epi64_mask(ex, SP_C64(0))
                & _mm512_cmpneq_epi64_mask(ex, SP_C64(2047));
    const __m512d y = SP_CD((double)yv);

    /* step 1 */
    const __m512i e = _mm512_srai_epi64(
        _mm512_sub_epi64(_mm512_srli_epi64(ua, 32), SP_C64(0x3FE7C000)), 20);
    const __m512d m = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_and_si512(ua, SP_C64(0x000fffffffffffffULL)), SP_C64(0x3ff0000000000000ULL)));

    /* step 2: the three reductions */
    const __m512i i = _mm512_srli_epi64(_mm512_add_epi64(
        _mm512_and_si512(sp_hi32(m), SP_C64(0xFC000)), SP_C64(0x4000)), 15);
    const __m512d c1 = sp_lut33(RC1, i);
    const __m512d r1 = _mm512_mul_pd(c1, m);
    __m512d E = _mm512_cvtepi64_pd(e);                       /* exact */
    const __m512d m_big = _mm512_mul_pd(SP_CD(SP_SPLIT), m);
    E = _mm512_add_pd(E, sp_lut33(L1H, i));
    const __m512i j = _mm512_srli_epi64(_mm512_add_epi64(
        _mm512_and_si512(sp_hi32(r1), SP_C64(0xFC00)), SP_C64(0x400)), 11);
    const __m512d m_t = _mm512_sub_pd(m_big, m);
    const __m512d c2 = sp_lut33(RC2, j);
    const __m512d r2 = _mm512_mul_pd(r1, c2);
    E = _mm512_add_pd(E, sp_lut33(L2H, j));
    __m512d R = _mm512_mul_pd(c1, c2);
    const __m512d m_hi = _mm512_sub_pd(m_big, m_t);
    const __m512i k = _mm512_srli_epi64(_mm512_add_epi64(
        _mm512_and_si512(sp_hi32(r2), SP_C64(0xFF0)), SP_C64(0x10)), 5);
    const __m512d c3 = _mm512_i64gather_pd(k, sp_rcp3, 8);
    R = _mm512_mul_pd(R, c3);
    const __m512d m_lo = _mm512_sub_pd(m, m_hi);
    E = _mm512_add_pd(E, _mm512_i64gather_pd(k, sp_log3_hi, 8));
    const __m512d r3 = _mm512_mul_pd(r2, c3);
    const __m512d u_hi = _mm512_sub_pd(r3, SP_CD(SP_L));

    const __m512d R_big = _mm512_mul_pd(SP_CD(SP_SPLIT), R);
    const __m512d R_t = _mm512_sub_pd(R_big, R);
    const __m512d R_hi = _mm512_sub_pd(R_big, R_t);
    const __m512d R_lo = _mm512_sub_pd(R, R_hi);
    __m512d err = _mm512_sub_pd(_mm512_mul_pd(m_hi, R_hi), r3);
    err = _mm512_add_pd(err, _mm512_mul_pd(R_hi, m_lo));
    const __m512d H = _mm512_add_pd(E, u_hi);
    err = _mm512_add_pd(err, _mm512_mul_pd(m_hi, R_lo));
    err = _mm512_add_pd(err, _mm512_mul_pd(m_lo, R_lo));
    const __m512d H_lo = _mm512_add_pd(_mm512_sub_pd(E, H), u_hi);

    {   /* same range test as the scalar code */
        const __m512i s = _mm512_add_epi64(
            _mm512_and_si512(_mm512_srli_epi64(_mm512_castpd_si512(H), 52), SP_C64(0x7ff)),
            SP_C64(yv == 3 ? 1024 : 1025));
        ok &= _mm512_cmplt_epi64_mask(s, SP_C64(2057)) & _mm512_cmpgt_epi64_mask(s, SP_C64(1984));
    }

    const __m512d u = _mm512_add_pd(u_hi, err);
    __m512d Tlo = _mm512_add_pd(sp_lut33(L2L, j),
                                _mm512_i64gather_pd(k, sp_log3_lo, 8));
    const __m512d e2 = _mm512_add_pd(err, H_lo);
    __m512d P = _mm512_mul_pd(SP_CD(sp_plog[3]), u);
    Tlo = _mm512_add_pd(sp_lut33(L1L, i), Tlo);
    P = _mm512_add_pd(P, SP_CD(sp_plog[2]));
    Tlo = _mm512_add_pd(Tlo, e2);
    P = _mm512_mul_pd(P, u);
    P = _mm512_add_pd(P, SP_CD(sp_plog[1]));
    P = _mm512_mul_pd(P, u);
    P = _mm512_add_pd(P, SP_CD(sp_plog[0]));
    P = _mm512_mul_pd(P, u);

    const __m512d Y_hi = _mm512_add_pd(H, P);
    const __m512d Y_lo = _mm512_add_pd(_mm512_sub_pd(H, Y_hi), P);
    const __m512d Z_hi = _mm512_add_pd(Tlo, Y_hi);
    __m512d Z_lo = _mm512_add_pd(_mm512_sub_pd(Y_hi, Z_hi), Tlo);
    const __m512d Z_big = _mm512_mul_pd(SP_CD(SP_SPLIT), Z_hi);
    Z_lo = _mm512_add_pd(Z_lo, Y_lo);

    /* step 3 */
    const __m512d Zy_lo = _mm512_mul_pd(Z_lo, y);
    const __m512d Z_t = _mm512_sub_pd(Z_big, Z_hi);
    const __m512d Zh = _mm512_sub_pd(Z_big, Z_t);
    const __m512d Zl = _mm512_sub_pd(Z_hi, Zh);
    const __m512d p_hh = _mm512_mul_pd(y, Zh);
    const __m512d shifted = _mm512_add_pd(SP_CD(SP_SHIFTER), p_hh);
    __m512d rest = _mm512_mul_pd(y, Zl);
    rest = _mm512_add_pd(rest, Zy_lo);
    const __m512d N = _mm512_sub_pd(shifted, SP_CD(SP_SHIFTER));
    const __m512d f_hi = _mm512_sub_pd(p_hh, N);
    /* n = low 32 bits as a signed integer (sign-extended into the lane) */
    const __m512i n = _mm512_srai_epi64(_mm512_slli_epi64(_mm512_castpd_si512(shifted), 32), 32);
    const __m512d f = _mm512_add_pd(f_hi, rest);
    const __m512i t = _mm512_and_si512(n, SP_C64(127));
    const __m512d T_hi = _mm512_i64gather_pd(t, sp_exp2_hi, 8);
    const __m512i sc = _mm512_srai_epi64(n, 7);

    __m512d Q = _mm512_mul_pd(SP_CD(sp_pexp[4]), f);
    Q = _mm512_add_pd(Q, SP_CD(sp_pexp[3]));
    Q = _mm512_mul_pd(Q, f);
    Q = _mm512_add_pd(Q, SP_CD(sp_pexp[2]));
    Q = _mm512_mul_pd(Q, f);
    Q = _mm512_add_pd(Q, SP_CD(sp_pexp[1]));
    Q = _mm512_mul_pd(Q, f);
    Q = _mm512_add_pd(Q, SP_CD(sp_pexp[0]));
    Q = _mm512_mul_pd(Q, f);
    Q = _mm512_mul_pd(Q, T_hi);
    Q = _mm512_add_pd(Q, _mm512_i64gather_pd(t, sp_exp2_lo, 8));
    const __m512d r = _mm512_add_pd(Q, T_hi);

    /* step 4 */
    const __m512i ur = _mm512_castpd_si512(r);
    const __m512i efin = _mm512_add_epi64(_mm512_sub_epi64(sc, SP_C64(1023)),
        _mm512_and_si512(_mm512_srli_epi64(ur, 52), SP_C64(0x7ff)));
    ok &= _mm512_cmplt_epi64_mask(efin, SP_C64(1024)) & _mm512_cmpge_epi64_mask(efin, SP_C64(-1022));
    __m512i out = _mm512_or_si512(_mm512_and_si512(ur, SP_C64(0x000fffffffffffffULL)),
        _mm512_slli_epi64(_mm512_add_epi64(efin, SP_C64(1023)), 52));
    const __mmask8 is_m1 = _mm512_cmp_pd_mask(x, SP_CD(-1.0), _CMP_EQ_OQ);
    out = _mm512_mask_mov_epi64(out, is_m1, SP_C64(0x3ff0000000000000ULL));
    ok |= is_m1;
    if (yv & 1)
        out = _mm512_or_si512(out, SP_C64(0x8000000000000000ULL));
    out = _mm512_mask_mov_epi64(SP_C64(0x7ff8000000000000ULL), ok, out);
    _mm512_mask_storeu_pd(pout, ok, _mm512_castsi512_pd(out));
    return ok;
}

static SP_AVX512 long loop_avx512(const double *x, ptrdiff_t n, int y,
                                  double *out, uint8_t *unhandled)
{
    long nbad = 0;
    ptrdiff_t idx = 0;
    const __m128i one = _mm_set1_epi8(1);
    sp_regtabs tb;
    sp_tab33_load(&tb.rc1, sp_rcp1);
    sp_tab33_load(&tb.rc2, sp_rcp2);
    sp_tab33_load(&tb.l1h, sp_log1_hi);
    sp_tab33_load(&tb.l1l, sp_log1_lo);
    sp_tab33_load(&tb.l2h, sp_log2_hi);
    sp_tab33_load(&tb.l2l, sp_log2_lo);
    for (; idx + 8 <= n; idx += 8) {
        const __mmask8 ok = (y == 3) ? pow_neg_8(x + idx, 3, out + idx, &tb)
                                     : pow_neg_8(x + idx, 4, out + idx, &tb);
        /* the lanes with the sign bit set that are not covered: ours to report */
        const __mmask8 neg = _mm512_movepi64_mask(_mm512_castpd_si512(_mm512_loadu_pd(x + idx)));
        const __mmask16 bad = (__mmask16)(uint8_t)(~ok & neg);
        _mm_storel_epi64((__m128i *)(unhandled + idx), _mm_maskz_mov_epi8(bad, one));
        nbad += __builtin_popcount(bad);
    }
    return nbad + loop_scalar(x + idx, n - idx, y, out + idx, unhandled + idx);
}
#endif

/*
 * Core entry point.  For each element whose sign bit is set, out[i] =
 * np.power(x[i], y) bit for bit and unhandled[i] = 0, or unhandled[i] = 1 and
 * out[i] is left as it was (the caller must compute those elements another
 * way).  Elements whose sign bit is clear are the caller's (numpy's vector
 * path): out[i] is left as it was and unhandled[i] = 0.  So a caller fills
 * out with numpy's power of |x| and lets this overwrite the negative lanes.
 * y must be 3 or 4.  impl: 0 = best available, 1 = force the portable scalar
 * code.  Returns the number of unhandled elements, or -1 for an unsupported y.
 */
static long pow_neg_int_impl(const double *x, ptrdiff_t n, int y, double *out,
                      uint8_t *unhandled, int impl)
{
    if (y != 3 && y != 4)
        return -1;
#ifdef SP_HAVE_AVX512
    if (impl == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
        return loop_avx512(x, n, y, out, unhandled);
#endif
    return loop_scalar(x, n, y, out, unhandled);
}


/* ---------------------------------------------------------------------- */
/* Minimal Python wrapper (buffer protocol only; no numpy C API needed).    */
/* ---------------------------------------------------------------------- */
#ifndef SVMLPOW_NO_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* pow_neg_int(x, y, out, unhandled[, impl]) -> number of unhandled elements
 *   x: C-contiguous float64 buffer; out: writable C-contiguous float64 of the
 *   same length; unhandled: writable C-contiguous uint8/bool of the same length. */
static PyObject *py_pow_neg_int(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ox, *oout, *omask;
    int y, impl = 0;
    if (!PyArg_ParseTuple(args, "OiOO|i", &ox, &y, &oout, &omask, &impl))
        return NULL;
    if (y != 3 && y != 4) {
        PyErr_SetString(PyExc_ValueError, "y must be 3 or 4");
        return NULL;
    }
    Py_buffer bx, bo, bm;
    if (PyObject_GetBuffer(ox, &bx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(oout, &bo, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&bx);
        return NULL;
    }
    if (PyObject_GetBuffer(omask, &bm, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&bx);
        PyBuffer_Release(&bo);
        return NULL;
    }
    PyObject *ret = NULL;
    if (bx.itemsize != 8 || bo.itemsize != 8 || bm.itemsize != 1 ||
        (bx.format && strcmp(bx.format, "d") != 0) ||
        (bo.format && strcmp(bo.format, "d") != 0)) {
        PyErr_SetString(PyExc_TypeError, "x and out must be float64, unhandled must be 1-byte");
    } else if (bx.len != bo.len || bx.len / 8 != bm.len) {
        PyErr_SetString(PyExc_ValueError, "length mismatch");
    } else {
        long nbad;
        Py_BEGIN_ALLOW_THREADS
        nbad = pow_neg_int_impl((const double *)bx.buf, (ptrdiff_t)(bx.len / 8), y,
                                (double *)bo.buf, (uint8_t *)bm.buf, impl);
        Py_END_ALLOW_THREADS
        ret = PyLong_FromLong(nbad);
    }
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bm);
    return ret;
}

static PyMethodDef methods[] = {
    {"pow_neg_int", py_pow_neg_int, METH_VARARGS,
     "pow_neg_int(x, y, out, unhandled, impl=0) -> n_unhandled.\n"
     "Writes np.power(x, y) (bit-identical to numpy's SVML path) into out\n"
     "where x has its sign bit set, for float64 x and y in {3, 4}; sets\n"
     "unhandled[i]=1 where such an element is left to numpy. Other elements\n"
     "of out are left as they are. impl=1 forces the portable scalar code\n"
     "(impl=0: AVX-512 when the CPU has it)."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "frd._power", NULL, -1, methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__power(void) { return PyModule_Create(&moddef); }
#endif
