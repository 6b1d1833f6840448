/*
 * core/json.h — what every parser of untrusted JSON (jansson) in the
 * library shares: a nesting-depth bound checked after parsing, so that a
 * document's depth is refused by the same rule wherever it is read (JWS
 * headers and claims, TDX collateral). Internal to the library (not
 * installed); core/json.c.
 */
#ifndef MOSAIK_CORE_JSON_H
#define MOSAIK_CORE_JSON_H

#include <stdbool.h>

#include <jansson.h>

/* Whether every value of v (v at depth 1, each member or element one
 * deeper than its container, scalars included) is at depth <= max. Iterative over a bounded stack,
 * so a hostile document cannot exhaust the C stack. */
bool mk_json_depth_ok(const json_t *v, int max);

#endif
