/*
 * tee/platform.c — what names a platform, and its measurement registers.
 *
 * The platforms are a closed enum (mosaik/tee.h): the layer knows which
 * exist so that a provider, a ticket and a validator can say which one
 * they belong to, and nothing else about them.
 *
 * Measurements are the registers a platform reports for the local TEE,
 * each under the platform's own name ("MRTD", "RTMR0"; SNP's
 * "MEASUREMENT", "HOST_DATA"), at most MK_TEE_REGISTERS_MAX of at most
 * MK_TEE_REGISTER_MAX bytes: enough for a generic program (or log line) to
 * show what runs, while a platform's validator reads its own typed report.
 */
#include <string.h>

#include "tee/tee_internal.h"

const char *mk_tee_platform_name(mk_tee_platform p) {
    switch (p) {
    case MK_TEE_TDX:
        return "TDX";
    case MK_TEE_SNP:
        return "SEV-SNP";
    default:
        return "none";
    }
}

int mk_tee_measurements_add(mk_tee_measurements *m, const char *name, const uint8_t *value,
                            size_t len) {
    if (!m || !name || !value || strlen(name) >= sizeof m->reg[0].name || len > MK_TEE_REGISTER_MAX)
        return MK_EINVAL;
    if (m->n >= MK_TEE_REGISTERS_MAX) return MK_ETOOBIG;
    mk_tee_register *r = &m->reg[m->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, strlen(name));
    memcpy(r->value, value, len);
    r->len = len;
    return 0;
}

const mk_tee_register *mk_tee_measurements_find(const mk_tee_measurements *m, const char *name) {
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->n && i < MK_TEE_REGISTERS_MAX; i++)
        if (strcmp(m->reg[i].name, name) == 0) return &m->reg[i];
    return NULL;
}
