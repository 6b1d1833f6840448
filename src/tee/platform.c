/*
 * tee/platform.c — what names a platform, and its measurement registers.
 *
 * The platforms are a closed enum (mosaik/tee.h): the layer knows which
 * exist so that a provider, a ticket and a validator can say which one
 * they belong to, and nothing else about them.
 */
#include "mosaik/tee.h"

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
