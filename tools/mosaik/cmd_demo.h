/*
 * tools/mosaik/cmd_demo.h — what the two halves of `mosaik demo` share: the
 * parent (cmd_demo.c: starts the node processes, renders their events) and
 * the node role (cmd_demo_node.c: one node, this same binary run with the
 * hidden `demo --node ...` options).
 */
#ifndef MOSAIK_CMD_DEMO_H
#define MOSAIK_CMD_DEMO_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

#define DEMO_NETWORK "mosaik-demo"
#define DEMO_STREAM "demo.prices"
/* The nodes: the producer, node-a..node-e (TDX), and with SEV-SNP support
 * node-f and node-g (SNP). */
#define NODES_TDX 6
#define NODES_MAX 8

/* Set by cli_demo_on_signal (SIGINT/SIGTERM): stop and report. */
extern volatile sig_atomic_t cli_demo_stop;
void cli_demo_on_signal(int sig);

/* Monotonic seconds; a sleep of ms milliseconds. */
double cli_demo_now(void);
void cli_demo_sleep_ms(unsigned ms);

/* A node's role, from the hidden options the parent passes. */
typedef struct cli_demo_node_args {
    const char *name, *dir, *bootstrap;
    const char *mrtd; /* the MRTD (TDX) or measurement (SNP): "good", "other" or "none" */
    bool snp;         /* an SEV-SNP node (--tee snp); else TDX */
    int64_t expires;  /* the ticket's expiry; 0: in an hour */
    bool producer;
    int duration;     /* seconds */
    const char *http; /* producer: serve the status page there (--http), or NULL */
} cli_demo_node_args;

/* Run one node until the duration is over or a signal; its exit code. */
int cli_demo_node_main(const cli_demo_node_args *a);

#endif
