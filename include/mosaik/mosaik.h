/*
 * mosaik/mosaik.h — umbrella header for libmosaik: includes every public
 * header, the TEE, TDX and SNP ones when the library was built with them
 * (MOSAIK_HAVE_TEE, MOSAIK_HAVE_TDX, MOSAIK_HAVE_TDX_BUILDER,
 * MOSAIK_HAVE_SNP in mosaik/version.h).
 *
 * The test api_exports checks that this list is complete and that the
 * shared library exports exactly the functions these headers declare
 * (MK_EXTERN, mosaik/export.h).
 */
#ifndef MOSAIK_MOSAIK_H
#define MOSAIK_MOSAIK_H

#include "mosaik/bytes.h"
#include "mosaik/clock.h"
#include "mosaik/codec.h"
#include "mosaik/collections.h"
#include "mosaik/crypto.h"
#include "mosaik/discovery.h"
#include "mosaik/encoding.h"
#include "mosaik/error.h"
#include "mosaik/export.h"
#include "mosaik/groups.h"
#include "mosaik/id.h"
#include "mosaik/jwt.h" /* JWT tickets */
#include "mosaik/log.h"
#include "mosaik/net.h"
#include "mosaik/streams.h"
#include "mosaik/ticket.h"
#include "mosaik/version.h"
#if MOSAIK_HAVE_TEE
#include "mosaik/attest.h" /* the node's own attestation, renewed */
#include "mosaik/tee.h"
#endif
#if MOSAIK_HAVE_TDX
#include "mosaik/tdx.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"
#endif
#if MOSAIK_HAVE_SNP
#include "mosaik/snp.h"
#endif
#if MOSAIK_HAVE_TDX_BUILDER
#include "mosaik/tdx_measure.h"
#include "mosaik/tdx_build.h"
#endif

#endif
