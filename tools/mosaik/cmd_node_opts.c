/*
 * tools/mosaik/cmd_node_opts.c — the options of `mosaik node`, from the
 * command line and from the configuration file (--config FILE).
 *
 * One table (DEFS) names every option once; getopt's table, the file's
 * keys and --print-config all come from it, so the file takes exactly the
 * command-line options and no other. The file is lines of "name = value"
 * (the long option without its dashes), '#' starting a comment line, blank
 * lines ignored; a value may be put in double quotes (to keep spaces at its
 * ends); a flag takes true/false (yes/no, on/off, 1/0); a repeatable option
 * is repeated. A single-valued option given twice in the file, an unknown
 * name and a bad value are usage errors naming FILE:LINE.
 *
 * Precedence: the file is read first, then the command line, whose values
 * replace the file's; for a repeatable option (--advertise, --bootstrap,
 * --tag) the command line's list replaces the file's list as a whole. A
 * flag set true in the file cannot be turned off on the command line. To
 * find --config before reading the rest, the command line is parsed twice:
 * once alone (which also reports its errors), then after the file.
 *
 * Values are checked as they are read (cli_input.c: integers and durations
 * in range, nothing clamped); what they imply (the simulated-TD tag, the
 * lists of the network configuration) is set by node_opts_finish, after
 * --print-config, so that printing and reading the file again round-trips.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_node.h"

#define CONFIG_MAX (1u << 20)

typedef enum kind { K_VALUE, K_LIST, K_FLAG, K_META } kind;

typedef struct node_opt_def {
    const char *name;
    int id;
    kind k;
} node_opt_def;

static const node_opt_def DEFS[NODE_OPT_COUNT] = {
    {"network", NODE_OPT_NETWORK, K_VALUE},
    {"listen", NODE_OPT_LISTEN, K_VALUE},
    {"advertise", NODE_OPT_ADVERTISE, K_LIST},
    {"bootstrap", NODE_OPT_BOOT, K_LIST},
    {"key", NODE_OPT_KEY, K_VALUE},
    {"tag", NODE_OPT_TAG, K_LIST},
    {"jwt-ticket", NODE_OPT_JWT, K_VALUE},
    {"tdx-sim", NODE_OPT_TDX_SIM, K_VALUE},
    {"tdx-sim-state", NODE_OPT_TDX_STATE, K_VALUE},
    {"require-tdx-mrtd", NODE_OPT_REQ_MRTD, K_VALUE},
    {"trust-sim-root", NODE_OPT_TRUST_ROOT, K_VALUE},
    {"tdx-sim-measurements", NODE_OPT_SIM_MEAS, K_VALUE},
    {"require-tdx-measurements", NODE_OPT_REQ_MEAS, K_VALUE},
    {"produce", NODE_OPT_PRODUCE, K_VALUE},
    {"consume", NODE_OPT_CONSUME, K_VALUE},
    {"exit-after-items", NODE_OPT_EXIT_AFTER, K_VALUE},
    {"metrics", NODE_OPT_METRICS, K_VALUE},
    {"http", NODE_OPT_HTTP, K_VALUE},
    {"json", NODE_OPT_JSON, K_FLAG},
    {"run-for", NODE_OPT_RUN_FOR, K_VALUE},
    {"no-depart", NODE_OPT_NO_DEPART, K_FLAG},
    {"announce-ms", NODE_OPT_ANNOUNCE, K_VALUE},
    {"sync-ms", NODE_OPT_SYNC, K_VALUE},
    {"purge-after-ms", NODE_OPT_PURGE, K_VALUE},
    {"config", NODE_OPT_CONFIG, K_META},
    {"print-config", NODE_OPT_PRINT, K_META},
    {"help", NODE_OPT_HELP, K_META},
};

static const node_opt_def *def_by_name(const char *name) {
    for (size_t i = 0; i < NODE_OPT_COUNT; i++)
        if (!strcmp(DEFS[i].name, name)) return &DEFS[i];
    return NULL;
}

/* ----- one option -------------------------------------------------------- */

/* A repeatable option's value; the command line's first one of a kind
 * drops what the file gave. */
static int add_to_list(node_opts *o, int id, const char *v, const char *opt) {
    int which = id == NODE_OPT_ADVERTISE ? 0 : id == NODE_OPT_BOOT ? 1 : 2;
    const char **list = which == 0 ? o->adv : which == 1 ? o->boot : o->tags;
    size_t *n = which == 0 ? &o->nadv : which == 1 ? &o->nboot : &o->ntags;
    if (!o->from_file && !o->list_from_cli[which]) {
        o->list_from_cli[which] = true;
        *n = 0;
    }
    if (*n == NODE_MAX_LIST) return cli_usage_error("node: more than %d --%s", NODE_MAX_LIST, opt);
    list[(*n)++] = v;
    return CLI_CONTINUE;
}

/* A value that needs checking; CLI_CONTINUE or a usage error. */
static int node_number(int id, const char *arg, node_opts *o) {
    switch (id) {
    case NODE_OPT_RUN_FOR:
        return cli_parse_seconds("--run-for", arg, 0.001, 10 * 365 * 86400.0, &o->run_for)
                   ? CLI_USAGE
                   : CLI_CONTINUE;
    case NODE_OPT_EXIT_AFTER:
        return cli_parse_u64("--exit-after-items", arg, 1, UINT64_MAX, &o->exit_after)
                   ? CLI_USAGE
                   : CLI_CONTINUE;
    case NODE_OPT_ANNOUNCE:
        return cli_parse_u32("--announce-ms", arg, 1, 86400000, &o->cfg.announce_ms) ? CLI_USAGE
                                                                                     : CLI_CONTINUE;
    case NODE_OPT_SYNC:
        return cli_parse_u32("--sync-ms", arg, 1, 86400000, &o->cfg.sync_ms) ? CLI_USAGE
                                                                             : CLI_CONTINUE;
    default: /* NODE_OPT_PURGE */
        return cli_parse_u32("--purge-after-ms", arg, 1, 86400000, &o->cfg.purge_after_ms)
                   ? CLI_USAGE
                   : CLI_CONTINUE;
    }
}

/* One option into o; CLI_CONTINUE, or the exit code (help, usage error). */
static int node_option(int id, const char *arg, node_opts *o) {
    if (id < NODE_OPT_NETWORK || id >= NODE_OPT_END)
        return cli_help_or_usage(false, cli_node_usage);
    const node_opt_def *d = &DEFS[id - NODE_OPT_NETWORK];
    if (d->k == K_LIST) return add_to_list(o, id, arg, d->name);
    if (d->k == K_FLAG) arg = "true";
    if (d->k != K_META) o->raw[id - NODE_OPT_NETWORK] = arg;
    switch (id) {
    case NODE_OPT_NETWORK:
        o->cfg.network = arg;
        break;
    case NODE_OPT_LISTEN:
        o->cfg.listen_addr = arg;
        break;
    case NODE_OPT_KEY:
        o->cfg.key_file = arg;
        break;
    case NODE_OPT_JWT:
        o->jwt_path = arg;
        break;
    case NODE_OPT_TDX_SIM:
        o->tdx_mrtd = arg;
        break;
    case NODE_OPT_TDX_STATE:
        o->tdx_state_path = arg;
        break;
    case NODE_OPT_REQ_MRTD:
        o->req_mrtd = arg;
        break;
    case NODE_OPT_TRUST_ROOT:
        o->trust_root = arg;
        break;
    case NODE_OPT_SIM_MEAS:
        o->sim_meas = arg;
        break;
    case NODE_OPT_REQ_MEAS:
        o->req_meas = arg;
        break;
    case NODE_OPT_PRODUCE:
        o->produce = arg;
        break;
    case NODE_OPT_CONSUME:
        o->consume = arg;
        break;
    case NODE_OPT_METRICS:
        o->metrics_addr = arg;
        break;
    case NODE_OPT_HTTP:
        o->http_addr = arg;
        break;
    case NODE_OPT_JSON:
        o->json = true;
        break;
    case NODE_OPT_NO_DEPART:
        o->no_depart = true;
        break;
    case NODE_OPT_CONFIG:
        o->config = arg;
        break;
    case NODE_OPT_PRINT:
        o->print_config = true;
        break;
    case NODE_OPT_HELP:
        return cli_help_or_usage(true, cli_node_usage);
    default:
        return node_number(id, arg, o);
    }
    return CLI_CONTINUE;
}

/* ----- the command line -------------------------------------------------- */

static int parse_argv(int argc, char **argv, node_opts *o) {
    cli_opt opts[NODE_OPT_COUNT + 1];
    for (size_t i = 0; i < NODE_OPT_COUNT; i++) {
        bool arg = DEFS[i].k == K_VALUE || DEFS[i].k == K_LIST || DEFS[i].id == NODE_OPT_CONFIG;
        opts[i] =
            (cli_opt){DEFS[i].name, arg ? required_argument : no_argument, DEFS[i].id, NULL, NULL};
    }
    opts[NODE_OPT_COUNT] = (cli_opt){NULL, 0, 0, NULL, NULL};
    optind = 0;
    int ch, rc;
    while ((ch = cli_getopt(argc, argv, "", opts)) != -1)
        if ((rc = node_option(ch, optarg, o)) != CLI_CONTINUE) return rc;
    if (optind < argc) return cli_usage_error("node: unexpected argument '%s'", argv[optind]);
    return CLI_CONTINUE;
}

/* ----- the configuration file ---------------------------------------------- */

static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static int parse_flag(const char *v, bool *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i])) return *out = true, 0;
        if (!strcmp(v, no[i])) return *out = false, 0;
    }
    return cli_usage_error("node: a flag is true or false, not '%s'", v);
}

/* One "name = value" line (already trimmed, not a comment). */
static int config_line(node_opts *o, char *line) {
    char *eq = strchr(line, '=');
    if (!eq) return cli_usage_error("want 'name = value', not '%s'", line);
    *eq = 0;
    char *key = trim(line), *val = trim(eq + 1);
    size_t n = strlen(val);
    if (n >= 2 && val[0] == '"' && val[n - 1] == '"') val[n - 1] = 0, val++;
    const node_opt_def *d = def_by_name(key);
    if (!d || d->k == K_META)
        return cli_usage_error("unknown option '%s' (the options of 'mosaik node --help', "
                               "without the dashes)",
                               key);
    if (d->k != K_LIST && o->raw[d->id - NODE_OPT_NETWORK])
        return cli_usage_error("'%s' given twice", key);
    if (d->k == K_FLAG) {
        bool on = false;
        if (parse_flag(val, &on)) return CLI_USAGE;
        if (!on) return CLI_CONTINUE;
    }
    return node_option(d->id, val, o);
}

static int load_config(node_opts *o) {
    mk_error err;
    mk_error_clear(&err);
    mk_buf_init(&o->file, CONFIG_MAX + 1);
    if (cli_read_file(o->config, CONFIG_MAX, &o->file, &err) < 0 ||
        mk_buf_append_u8(&o->file, 0) < 0)
        return cli_fail_err("node: --config", &err);
    o->from_file = true;
    int rc = CLI_CONTINUE;
    unsigned lineno = 0;
    for (char *line = (char *)o->file.data, *next; line && rc == CLI_CONTINUE; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line = trim(line);
        if (!*line || *line == '#') continue;
        char ctx[300];
        snprintf(ctx, sizeof ctx, "%s:%u", o->config, lineno);
        cli_set_context(ctx);
        rc = config_line(o, line);
        cli_set_context(NULL);
    }
    o->from_file = false;
    return rc;
}

/* ----- all of it ----------------------------------------------------------- */

static void opts_init(node_opts *o) {
    memset(o, 0, sizeof *o);
    mk_network_config_init(&o->cfg);
}

/* '-' (stdin) for the files the library or the TDX part open themselves. */
static int stdin_paths(node_opts *o) {
    mk_error err;
    mk_error_clear(&err);
    if (cli_is_stdin(o->cfg.key_file)) {
        mk_buf b = MK_BUF_INIT;
        int rc = cli_read_file("-", 1 << 16, &b, &err);
        size_t n = b.len;
        mk_buf_free(&b);
        if (rc < 0) return cli_fail_err("node: --key", &err);
        if (!n) return cli_usage_error("node: --key -: stdin is empty (a new key would be lost)");
        if (!(o->cfg.key_file = cli_input_path("-", &err)))
            return cli_fail_err("node: --key", &err);
    }
    if (o->tdx_state_path && !(o->tdx_state_path = cli_input_path(o->tdx_state_path, &err)))
        return cli_fail_err("node: --tdx-sim-state", &err);
    return CLI_CONTINUE;
}

int node_parse(int argc, char **argv, node_opts *o) {
    opts_init(o);
    node_opts *first = malloc(sizeof *first);
    if (!first) return cli_fail(CLI_FAIL, "out of memory");
    opts_init(first);
    int rc = parse_argv(argc, argv, first); /* for --config, and the command line's errors */
    const char *config = first->config;
    free(first);
    if (rc != CLI_CONTINUE) return rc;
    o->config = config;
    if (config && (rc = load_config(o)) != CLI_CONTINUE) return rc;
    if ((rc = parse_argv(argc, argv, o)) != CLI_CONTINUE) return rc;
    cli_json = o->json;
    if (!o->cfg.network) return cli_usage_error("node: --network is required");
    if (o->produce && o->consume) return cli_usage_error("node: --produce or --consume, not both");
#if !MOSAIK_HAVE_TDX
    if (o->tdx_mrtd || o->req_mrtd || o->sim_meas || o->req_meas || o->tdx_state_path ||
        o->trust_root)
        return cli_usage_error("node: built without TDX support");
#endif
    return o->print_config ? CLI_CONTINUE : stdin_paths(o);
}

int node_opts_finish(node_opts *o) {
#if MOSAIK_HAVE_TDX
    if (o->sim_meas) {
        /* the simulated TD is labelled in the entry too */
        o->from_file = true; /* appends */
        int rc = add_to_list(o, NODE_OPT_TAG, "mosaik.tdx.simulated", "tag");
        o->from_file = false;
        if (rc != CLI_CONTINUE) return rc;
        if (!o->tdx_mrtd) o->tdx_mrtd = "";
    }
    if (o->req_meas) o->req_mrtd = "";
    if ((o->req_mrtd || o->req_meas) && !o->trust_root)
        fprintf(stderr, "mosaik: note: without --trust-sim-root only real Intel TDX tickets can "
                        "pass --require-tdx-mrtd\n");
#endif
    o->cfg.bootstrap = o->boot;
    o->cfg.n_bootstrap = o->nboot;
    o->cfg.tags = o->tags;
    o->cfg.n_tags = o->ntags;
    o->cfg.advertise = o->adv;
    o->cfg.n_advertise = o->nadv;
    return CLI_CONTINUE;
}

/* ----- --print-config -------------------------------------------------------- */

static void print_value(const char *name, const char *v) {
    size_t n = strlen(v);
    bool quote =
        !n || isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]) || v[0] == '"';
    printf(quote ? "%s = \"%s\"\n" : "%s = %s\n", name, v);
}

static void list_of(const node_opts *o, int id, const char *const **l, size_t *n) {
    *l = id == NODE_OPT_ADVERTISE ? o->adv : id == NODE_OPT_BOOT ? o->boot : o->tags;
    *n = id == NODE_OPT_ADVERTISE ? o->nadv : id == NODE_OPT_BOOT ? o->nboot : o->ntags;
}

int node_print_config(const node_opts *o) {
    json_t *j = o->json ? json_object() : NULL;
    if (!j) printf("# mosaik node: the configuration in effect (mosaik node --print-config)\n");
    for (size_t i = 0; i < NODE_OPT_COUNT; i++) {
        const node_opt_def *d = &DEFS[i];
        if (d->k == K_LIST) {
            const char *const *l;
            size_t n;
            list_of(o, d->id, &l, &n);
            json_t *a = n && j ? json_array() : NULL;
            for (size_t k = 0; k < n; k++)
                j ? (void)json_array_append_new(a, json_string(l[k])) : print_value(d->name, l[k]);
            if (a) json_object_set_new(j, d->name, a);
        } else if (d->k != K_META && o->raw[i]) {
            if (j)
                json_object_set_new(j, d->name,
                                    d->k == K_FLAG ? json_true() : json_string(o->raw[i]));
            else
                print_value(d->name, o->raw[i]);
        }
    }
    if (j) {
        cli_emit(j);
        json_decref(j);
    }
    return CLI_OK;
}

void node_opts_free(node_opts *o) {
    mk_buf_free(&o->file);
}
