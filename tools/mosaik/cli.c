/*
 * tools/mosaik/cli.c — what every command of the mosaik tool shares:
 * usage errors, dispatching a command word to its entry point, and option
 * parsing.
 *
 * Options: a command describes its long options in one cli_opt table, each
 * with where its value goes when the option only stores (a string, or true
 * for a flag). cli_getopt builds getopt_long's table from it on every call
 * (the command's table may live on its stack), stores those options itself
 * and returns only the others, exactly as getopt_long returns them (the
 * option's id, '?' for an unknown option or a missing value with optopt
 * set, -1 at the end), so that a command's switch holds only the options
 * that need logic. Options are taken in command-line order either way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mosaik: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

bool cli_is_help(const char *arg) {
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

int cli_dispatch(int argc, char **argv, const cli_command *table, void (*usage)(FILE *f),
                 const char *prefix) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return CLI_OK;
    }
    for (const cli_command *c = table; c->name; c++)
        if (!strcmp(c->name, argv[1])) return c->run(argc - 1, argv + 1);
    usage(stderr);
    return cli_usage_error("%sunknown command '%s'", prefix, argv[1]);
}

int cli_help_or_usage(bool help, void (*usage)(FILE *f)) {
    usage(help ? stdout : stderr);
    return help ? CLI_OK : CLI_USAGE;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const cli_opt *opts) {
    static struct option table[CLI_OPTS_MAX + 1];
    size_t n = 0;
    for (; opts[n].name; n++) {
        if (n == CLI_OPTS_MAX) abort(); /* a command's table outgrew CLI_OPTS_MAX */
        table[n] = (struct option){opts[n].name, opts[n].has_arg, NULL, opts[n].id};
    }
    table[n] = (struct option){NULL, 0, NULL, 0};
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, table, NULL);
        const cli_opt *o = opts;
        while (o->name && (o->id != c || (!o->str && !o->flag)))
            o++;
        if (!o->name) return c;
        if (o->str) *o->str = optarg;
        if (o->flag) *o->flag = true;
    }
}
