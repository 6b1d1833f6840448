/*
 * src/tee/tdx/tdx_provider_internal.h — contract between sim.c (the TDX
 * simulator's PKI and quote builder) and provider.c (the provider
 * interface, which wraps a simulator as one provider among others).
 *
 * Not installed; not part of the public API.
 */
#ifndef MOSAIK_TDX_PROVIDER_INTERNAL_H
#define MOSAIK_TDX_PROVIDER_INTERNAL_H

#include "mosaik/tdx_provider.h"

/* Take a reference to sim (released by mk_tdx_sim_free). Returns sim. */
mk_tdx_sim *mk_tdx_sim_ref(mk_tdx_sim *sim);

#endif
