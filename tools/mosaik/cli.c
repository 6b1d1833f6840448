/*
 * tools/mosaik/cli.c — what every command of the mosaik tool shares:
 * errors and their exit status, the JSON output, dispatching a command
 * word to its entry point, and option parsing.
 *
 * Errors. Every failure is reported through cli_usage_error / cli_fail /
 * cli_fail_err: "mosaik: <message>" on stderr, and the first message of the
 * run is remembered. With --json (cli_json, set by main from a scan of the
 * whole command line) a command prints one object; when it fails before
 * printing it, cli_finish prints {"error": {"exit", "class", "message"}}
 * for it, so a script always gets exactly one object. Streaming commands
 * (node, demo) print lines through cli_emit_line, which does not count as
 * the one object: their failures still end with the error object.
 *
 * Options: a command describes its long options in one cli_opt table, each
 * with where its value goes when the option only stores (a string, or true
 * for a flag). cli_getopt builds getopt_long's table from it on every call
 * (the command's table may live on its stack), stores those options itself
 * and returns only the others, exactly as getopt_long returns them, so that
 * a command's switch holds only the options that need logic. getopt's own
 * messages are off: an unknown option or a missing value is reported here,
 * with the command's path ("tdx verify: unknown option '--x'").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_json;

static char g_error[1100];  /* the first message of the run */
static char g_context[256]; /* cli_set_context */
static char g_path[160];    /* "tdx verify" */
static bool g_emitted;      /* the one JSON object was printed */

__attribute__((format(printf, 1, 0))) static void report(const char *fmt, va_list ap) {
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g_context[0])
        fprintf(stderr, "mosaik: %s: %s\n", g_context, msg);
    else
        fprintf(stderr, "mosaik: %s\n", msg);
    if (!g_error[0]) {
        int n = g_context[0] ? snprintf(g_error, sizeof g_error, "%s: %s", g_context, msg)
                             : snprintf(g_error, sizeof g_error, "%s", msg);
        (void)n;
    }
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

int cli_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    return code;
}

int cli_exit_code(int mk_code) {
    switch (mk_code) {
    case MK_EIO:
    case MK_ENETWORK:
    case MK_ETIMEDOUT:
    case MK_EUNAVAILABLE:
        return CLI_IO;
    default:
        return CLI_FAIL;
    }
}

int cli_fail_err(const char *what, const mk_error *err) {
    const char *why = err->msg[0] ? err->msg : mk_strerror(err->code);
    return cli_fail(cli_exit_code(err->code), "%s: %s", what, why);
}

void cli_set_context(const char *ctx) {
    snprintf(g_context, sizeof g_context, "%s", ctx ? ctx : "");
}

const char *cli_last_error(void) {
    return g_error;
}

/* ----- JSON ------------------------------------------------------------- */

static void print_json(json_t *o, size_t flags) {
    char *s = json_dumps(o, flags | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

void cli_emit(json_t *o) {
    print_json(o, JSON_INDENT(2));
    g_emitted = true;
}

void cli_emit_line(json_t *o) {
    print_json(o, JSON_COMPACT);
}

void cli_json_set_error(json_t *o, int exit_code, const char *msg) {
    if (exit_code == CLI_OK) {
        json_object_set_new(o, "error", json_null());
        return;
    }
    const char *cls = exit_code == CLI_USAGE ? "usage" : exit_code == CLI_IO ? "io" : "refused";
    json_t *e = json_object();
    json_object_set_new(e, "exit", json_integer(exit_code));
    json_object_set_new(e, "class", json_string(cls));
    json_object_set_new(e, "message", json_string(msg && *msg ? msg : cls));
    json_object_set_new(o, "error", e);
}

int cli_finish(int rc) {
    if (cli_json && rc != CLI_OK && !g_emitted) {
        json_t *o = json_object();
        cli_json_set_error(o, rc, g_error);
        cli_emit_line(o);
        json_decref(o);
    }
    return rc;
}

/* ----- dispatching ------------------------------------------------------- */

bool cli_is_help(const char *arg) {
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

const char *cli_command_path(void) {
    return g_path;
}

static void path_push(const char *word) {
    size_t n = strlen(g_path);
    snprintf(g_path + n, sizeof g_path - n, "%s%s", n ? " " : "", word);
}

int cli_dispatch(int argc, char **argv, const cli_command *table, void (*usage)(FILE *f)) {
    const char *sep = g_path[0] ? ": " : "";
    if (argc < 2) {
        usage(stderr);
        return cli_usage_error("%s%sexpected a command (see --help)", g_path, sep);
    }
    for (const cli_command *c = table; c->name; c++) {
        if (strcmp(c->name, argv[1])) continue;
        path_push(c->name);
        if (!c->run) return cli_dispatch(argc - 1, argv + 1, c->sub, c->usage);
        return c->run(argc - 1, argv + 1);
    }
    if (cli_is_help(argv[1])) return cli_help_or_usage(true, usage);
    usage(stderr);
    return cli_usage_error("%s%sunknown %scommand '%s'", g_path, sep, g_path[0] ? "sub" : "",
                           argv[1]);
}

/* ----- options ----------------------------------------------------------- */

int cli_help_or_usage(bool help, void (*usage)(FILE *f)) {
    if (!help) {
        usage(stderr);
        if (!g_error[0]) snprintf(g_error, sizeof g_error, "%s: invalid arguments", g_path);
        return CLI_USAGE;
    }
    if (!cli_json) {
        usage(stdout);
        return CLI_OK;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return cli_fail(CLI_IO, "out of memory");
    usage(f);
    fclose(f);
    json_t *o = json_object();
    json_object_set_new(o, "help", json_stringn(text, len));
    cli_emit(o);
    json_decref(o);
    free(text);
    return CLI_OK;
}

int cli_args(int argc, char **argv, const cli_opt *opts, void (*usage)(FILE *f), int n,
             const char *expect) {
    int c;
    optind = 0;
    if ((c = cli_getopt(argc, argv, "h", opts)) != -1) return cli_help_or_usage(c == 'h', usage);
    if (argc - optind == n) return CLI_CONTINUE;
    if (n == 0) return cli_usage_error("%s: unexpected argument '%s'", expect, argv[optind]);
    usage(stderr);
    return cli_usage_error("%s", expect);
}

/* The reason getopt_long returned '?'. */
static void bad_option(int argc, char **argv, const cli_opt *opts) {
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    const cli_opt *o = opts;
    while (optopt && o->name && o->id != optopt)
        o++;
    if (optopt && o->name)
        cli_usage_error(o->has_arg ? "%s: option '--%s' needs a value"
                                   : "%s: option '--%s' takes no value",
                        g_path, o->name);
    else if (optopt > 0 && optopt < 128)
        cli_usage_error("%s: unknown option '-%c'", g_path, optopt);
    else
        cli_usage_error("%s: unknown option '%s'", g_path, arg);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const cli_opt *opts) {
    static struct option table[CLI_OPTS_MAX + 1];
    size_t n = 0;
    for (; opts[n].name; n++) {
        if (n == CLI_OPTS_MAX) abort(); /* a command's table outgrew CLI_OPTS_MAX */
        table[n] = (struct option){opts[n].name, opts[n].has_arg, NULL, opts[n].id};
    }
    table[n] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    for (;;) {
        optopt = 0;
        int c = getopt_long(argc, argv, shortopts, table, NULL);
        if (c == '?') bad_option(argc, argv, opts);
        const cli_opt *o = opts;
        while (o->name && (o->id != c || (!o->str && !o->flag)))
            o++;
        if (!o->name) return c;
        if (o->str) *o->str = optarg;
        if (o->flag) *o->flag = true;
    }
}
