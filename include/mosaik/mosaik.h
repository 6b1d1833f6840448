/*
 * mosaik/mosaik.h — umbrella header for libmosaik.
 */
#ifndef MOSAIK_MOSAIK_H
#define MOSAIK_MOSAIK_H

#include "mosaik/version.h"
#include "mosaik/error.h"
#include "mosaik/bytes.h"
#include "mosaik/encoding.h"
#include "mosaik/clock.h"
#include "mosaik/log.h"
#include "mosaik/id.h"
#include "mosaik/crypto.h"
#include "mosaik/ticket.h"
#include "mosaik/jwt.h" /* JWT tickets */
#include "mosaik/net.h"
#include "mosaik/discovery.h"
#include "mosaik/streams.h"
#include "mosaik/groups.h"
#include "mosaik/collections.h"
#if MOSAIK_HAVE_TDX
#include "mosaik/tdx.h"
#include "mosaik/tdx_provider.h"
#include "mosaik/tdx_ticket.h"
#endif

#endif
