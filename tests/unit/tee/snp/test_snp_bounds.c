/*
 * tests/unit/tee/snp/test_snp_bounds.c — SEV-SNP measurement criteria at their
 * bound: every pinned field (MEASUREMENT, HOST_DATA, ID key and author key
 * digests) is compared over all its bytes, so a report that differs in a
 * field's last byte only is refused with that field's name (a mutant of
 * tests/mutants/snp.mut comparing one byte less survived test_snp_verify).
 */
#include "test_util.h"

#include "mosaik/snp.h"

static void last_byte(void **state) {
    (void)state;
    mk_buf b;
    mk_buf_init(&b, 0);
    tu_read_testdata("snp/ms-genoa/report.bin", &b);
    mk_snp_report rep;
    mk_error err;
    TU_ASSERT_RC(mk_snp_report_parse(b.data, b.len, &rep, &err), 0, &err);
    const struct {
        unsigned bit;
        size_t off, len;
        const char *name;
    } fields[] = {
#define F(bit, m) {bit, offsetof(mk_snp_report, m), sizeof rep.m, #m}
        F(MK_SNP_REQ_MEASUREMENT, measurement),
        F(MK_SNP_REQ_HOST_DATA, host_data),
        F(MK_SNP_REQ_ID_KEY_DIGEST, id_key_digest),
        F(MK_SNP_REQ_AUTHOR_KEY_DIGEST, author_key_digest),
        F(MK_SNP_REQ_FAMILY_ID, family_id),
        F(MK_SNP_REQ_IMAGE_ID, image_id),
#undef F
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        mk_snp_criteria c;
        mk_snp_criteria_init(&c);
        mk_snp_criteria_from_report(&c, &rep, fields[i].bit);
        TU_ASSERT_RC(mk_snp_criteria_match(&c, &rep, &err), 0, &err);
        mk_snp_report other = rep;
        ((uint8_t *)&other)[fields[i].off + fields[i].len - 1] ^= 1;
        TU_ASSERT_RC(mk_snp_criteria_match(&c, &other, &err), MK_EMISMATCH, &err);
        TU_ASSERT_REASON(&err, fields[i].name);
        TU_ASSERT_REASON(&err, " mismatch: want ");
    }
    mk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(last_byte)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
