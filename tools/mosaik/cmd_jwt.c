/*
 * tools/mosaik/cmd_jwt.c — `mosaik jwt issue` and `mosaik jwt verify`.
 *
 * issue: build claims from options, sign with one key, print the compact
 * token. verify: build a JWT validator from options (exactly as a stream or
 * group would), judge the token as a ticket of a peer, print the result.
 * Key material comes as hex (--key-hex, or --key-file holding hex text), or
 * raw bytes (--key-raw-file): the HMAC secret for HS*, the private scalar /
 * Ed25519 seed for issuing with ES* / EdDSA, the public key (SEC1 or raw
 * X||Y; Ed25519 32 bytes) for verifying (an ES private scalar also works).
 * A key file or the token may be '-' (stdin). Times (--now, --at, --exp-at,
 * --nbf, --iat) are UNIX seconds or RFC 3339; durations are seconds.
 * Exit codes: 0 valid / issued, 1 refused or failed (reason on stderr),
 * 2 usage, 3 a file or stdin could not be read.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define MAX_LIST 32
#define MAX_KEY_FILE 4096

/* The longest duration an option takes (seconds): about a century. */
#define MAX_SECONDS 3155760000LL

static void issue_help(FILE *f) {
    fprintf(f,
            "usage: mosaik jwt issue --alg ALG KEY [claims] (--exp-in S | --exp-at T | --no-exp)\n"
            "                        [--ticket] [--json]\n"
            "\n"
            "Sign a JWT and print it. ALG: HS256 HS384 HS512 ES256 ES384 EdDSA.\n"
            "KEY (one of):\n"
            "  --key-hex HEX        HS*: the secret; ES*: the private scalar; EdDSA: the seed\n"
            "  --key-file F         the same as hex text in a file (whitespace ignored; - stdin)\n"
            "  --key-raw-file F     the same as raw bytes in a file (- stdin)\n"
            "claims (times T: UNIX seconds or RFC 3339, e.g. 2025-07-19T09:57:14Z):\n"
            "  --iss S  --sub S  --sub-peer PEER_HEX  --aud S (repeatable)  --jti S\n"
            "  --exp-in SECONDS | --exp-at T | --no-exp\n"
            "  --nbf T  --iat T | --no-iat (default iat: now)\n"
            "  --claim NAME=JSON    a custom claim, e.g. --claim 'role=\"admin\"' (repeatable)\n"
            "  --now T              signing time (default: the clock)\n"
            "  --ticket             print the ticket class id and the token on two lines\n"
            "  --json               print {\"token\", \"class\"} as one JSON object\n"
            "\n"
            "Exit status: 0 issued, 1 failed (e.g. a key too short), 2 usage error,\n"
            "3 a key file could not be read.\n");
}

static void verify_help(FILE *f) {
    fprintf(f, "usage: mosaik jwt verify TOKEN|- --alg ALG KEY (--sub PEER_HEX | --sub-fixed S | "
               "--no-sub) [policy]\n"
               "\n"
               "Judge a JWT as mosaik's JWT ticket validator would. Exit 0 valid, 1 refused\n"
               "(reason on stderr), 2 usage, 3 a file could not be read. '-' reads the token\n"
               "from stdin.\n"
               "KEY (one of):\n"
               "  --key-hex HEX        HS*: the secret; ES*: public key (SEC1 or X||Y) or scalar;\n"
               "                       EdDSA: the 32-byte public key\n"
               "  --key-file F         the same as hex text in a file (- stdin)\n"
               "  --key-raw-file F     the same as raw bytes in a file (- stdin)\n"
               "subject:\n"
               "  --sub PEER_HEX       the token must be bound to this peer id (64 hex digits)\n"
               "  --sub-fixed S        the token's sub must be S\n"
               "  --no-sub             the subject is not checked\n"
               "policy:\n"
               "  --iss S (repeatable, any of)   --aud S (repeatable, any of)\n"
               "  --claim NAME=JSON (repeatable, all required)\n"
               "  --allow-no-exp  --max-lifetime S  --max-age S  --skew S (default 60, at most\n"
               "                       86400)\n"
               "  --at T               judge at this time: UNIX seconds or RFC 3339 (default:\n"
               "                       the clock)\n"
               "  --json               print the result and the decoded token as JSON\n");
}

/* A duration option (seconds), or a time option (UNIX seconds or RFC 3339). */
static int parse_value(const char *opt, const char *s, bool is_time, int64_t max, int64_t *out) {
    if (is_time) return cli_parse_time(opt, s, out);
    uint64_t v;
    if (cli_parse_u64(opt, s, 0, (uint64_t)max, &v) != 0) return CLI_USAGE;
    *out = (int64_t)v;
    return 0;
}

/* Key material from exactly one of the three options, into buf. */
static int load_key_bytes(const char *hex, const char *hexfile, const char *rawfile, mk_buf *buf) {
    int given = !!hex + !!hexfile + !!rawfile;
    if (given != 1)
        return cli_usage_error("jwt: give exactly one of --key-hex, --key-file, --key-raw-file");
    mk_error err;
    mk_error_clear(&err);
    if (rawfile)
        return cli_read_file(rawfile, MAX_KEY_FILE, buf, &err) < 0
                   ? cli_fail_err("jwt: --key-raw-file", &err)
                   : 0;
    mk_buf text;
    mk_buf_init(&text, MAX_KEY_FILE);
    if (hexfile) {
        if (cli_read_file(hexfile, MAX_KEY_FILE, &text, &err) < 0) {
            mk_buf_wipe_free(&text);
            return cli_fail_err("jwt: --key-file", &err);
        }
    } else if (mk_buf_append_str(&text, hex) < 0) {
        mk_buf_free(&text);
        return cli_usage_error("jwt: key too long");
    }
    /* Drop whitespace. */
    size_t w = 0;
    for (size_t i = 0; i < text.len; i++)
        if (!isspace(text.data[i])) text.data[w++] = text.data[i];
    int rc = mk_hex_decode((const char *)text.data, w, buf, &err);
    mk_buf_wipe_free(&text);
    if (rc < 0) return cli_usage_error("jwt: key: %s", err.msg);
    return 0;
}

static int make_key(const char *alg_name, bool private_key, const char *hex, const char *hexfile,
                    const char *rawfile, mk_jwt_key **out) {
    if (!alg_name) return cli_usage_error("jwt: --alg is required");
    mk_jwt_alg alg;
    if (mk_jwt_alg_parse(alg_name, &alg) < 0)
        return cli_usage_error("jwt: unknown --alg '%s' (HS256 HS384 HS512 ES256 ES384 EdDSA)",
                               alg_name);
    mk_buf kb;
    mk_buf_init(&kb, MAX_KEY_FILE);
    int rc = load_key_bytes(hex, hexfile, rawfile, &kb);
    if (rc) {
        mk_buf_wipe_free(&kb);
        return rc;
    }
    /* For verifying ES keys, a scalar-sized value is a private key. */
    if (!private_key && alg == MK_JWT_ES256 && kb.len == 32) private_key = true;
    if (!private_key && alg == MK_JWT_ES384 && kb.len == 48) private_key = true;
    mk_error err;
    mk_error_clear(&err);
    rc = mk_jwt_key_from_bytes(alg, private_key, kb.data, kb.len, out, &err);
    mk_buf_wipe_free(&kb);
    if (rc < 0) return cli_fail_err("jwt", &err);
    return 0;
}

/* Split NAME=JSON. */
static int split_claim(char *arg, mk_jwt_claim *out) {
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return cli_usage_error("jwt: --claim needs NAME=JSON, not '%s'", arg);
    *eq = '\0';
    out->name = arg;
    out->json = eq + 1;
    return 0;
}

static bool is_peer_hex(const char *s) {
    mk_id id;
    return strlen(s) == 64 && mk_id_from_hex(&id, s, NULL) == 0;
}

enum {
    O_ALG = 256,
    O_KEY_HEX,
    O_KEY_FILE,
    O_KEY_RAW,
    O_ISS,
    O_SUB,
    O_SUB_PEER,
    O_SUB_FIXED,
    O_NO_SUB,
    O_AUD,
    O_JTI,
    O_EXP_IN,
    O_EXP_AT,
    O_NO_EXP,
    O_NBF,
    O_IAT,
    O_NO_IAT,
    O_CLAIM,
    O_NOW,
    O_TICKET,
    O_ALLOW_NO_EXP,
    O_MAX_LIFETIME,
    O_MAX_AGE,
    O_SKEW,
    O_AT,
    O_JSON,
    O_HELP
};

/* Everything either subcommand may be given. */
typedef struct jwt_args {
    const char *alg, *key_hex, *key_file, *key_raw;
    const char *iss[MAX_LIST];
    size_t n_iss;
    const char *aud[MAX_LIST];
    size_t n_aud;
    mk_jwt_claim claims[MAX_LIST];
    size_t n_claims;
    const char *sub, *sub_peer, *sub_fixed, *jti;
    bool no_sub, no_exp, no_iat, ticket, allow_no_exp, json, help;
    bool has_exp_in, has_exp_at, has_nbf, has_iat, has_now, has_at;
    int64_t exp_in, exp_at, nbf, iat, now, at, max_lifetime, max_age, skew;
    bool has_skew;
    const char *positional[4];
    size_t n_positional;
} jwt_args;

static int push(const char **list, size_t *n, const char *v, const char *opt) {
    if (*n >= MAX_LIST) return cli_usage_error("jwt: too many %s options", opt);
    list[(*n)++] = v;
    return 0;
}

/* An integer option: where its value goes, the flag that says it was
 * given (NULL when the default is 0 anyway), whether it is a time (else a
 * duration in seconds) and its largest value. */
typedef struct int_opt {
    int id;
    int64_t *value;
    bool *given;
    bool is_time;
    int64_t max;
} int_opt;

/* The value of an option that is not only stored; 0, or an exit code. */
static int parse_special(int c, const cli_opt *opts, const int_opt *ints, jwt_args *a,
                         char **argv) {
    for (const int_opt *n = ints; n->value; n++) {
        if (n->id != c) continue;
        const cli_opt *o = opts;
        while (o->id != c)
            o++;
        char name[32];
        snprintf(name, sizeof name, "--%s", o->name);
        if (n->given) *n->given = true;
        return parse_value(name, optarg, n->is_time, n->max, n->value);
    }
    switch (c) {
    case O_ISS:
        return push(a->iss, &a->n_iss, optarg, "--iss");
    case O_AUD:
        return push(a->aud, &a->n_aud, optarg, "--aud");
    case O_CLAIM:
        if (a->n_claims >= MAX_LIST) return cli_usage_error("jwt: too many --claim options");
        return split_claim(optarg, &a->claims[a->n_claims++]);
    case 'h':
        a->help = true;
        return 0;
    default: /* cli_getopt said why */
        (void)argv;
        return CLI_USAGE;
    }
}

/* Options and arguments into a; CLI_CONTINUE, or the exit code (help,
 * usage error). */
static int parse_args(int argc, char **argv, jwt_args *a, void (*help)(FILE *f)) {
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {
        {"alg", required_argument, O_ALG, &a->alg, NULL},
        {"key-hex", required_argument, O_KEY_HEX, &a->key_hex, NULL},
        {"key-file", required_argument, O_KEY_FILE, &a->key_file, NULL},
        {"key-raw-file", required_argument, O_KEY_RAW, &a->key_raw, NULL},
        {"iss", required_argument, O_ISS, NULL, NULL},
        {"sub", required_argument, O_SUB, &a->sub, NULL},
        {"sub-peer", required_argument, O_SUB_PEER, &a->sub_peer, NULL},
        {"sub-fixed", required_argument, O_SUB_FIXED, &a->sub_fixed, NULL},
        {"no-sub", no_argument, O_NO_SUB, NULL, &a->no_sub},
        {"aud", required_argument, O_AUD, NULL, NULL},
        {"jti", required_argument, O_JTI, &a->jti, NULL},
        {"exp-in", required_argument, O_EXP_IN, NULL, NULL},
        {"exp-at", required_argument, O_EXP_AT, NULL, NULL},
        {"no-exp", no_argument, O_NO_EXP, NULL, &a->no_exp},
        {"nbf", required_argument, O_NBF, NULL, NULL},
        {"iat", required_argument, O_IAT, NULL, NULL},
        {"no-iat", no_argument, O_NO_IAT, NULL, &a->no_iat},
        {"claim", required_argument, O_CLAIM, NULL, NULL},
        {"now", required_argument, O_NOW, NULL, NULL},
        {"ticket", no_argument, O_TICKET, NULL, &a->ticket},
        {"allow-no-exp", no_argument, O_ALLOW_NO_EXP, NULL, &a->allow_no_exp},
        {"max-lifetime", required_argument, O_MAX_LIFETIME, NULL, NULL},
        {"max-age", required_argument, O_MAX_AGE, NULL, NULL},
        {"skew", required_argument, O_SKEW, NULL, NULL},
        {"at", required_argument, O_AT, NULL, NULL},
        {"json", no_argument, O_JSON, NULL, &a->json},
        {"help", no_argument, O_HELP, NULL, &a->help},
        {NULL, 0, 0, NULL, NULL},
    };
    const int_opt ints[] = {
        {O_EXP_IN, &a->exp_in, &a->has_exp_in, false, MAX_SECONDS},
        {O_EXP_AT, &a->exp_at, &a->has_exp_at, true, 0},
        {O_NBF, &a->nbf, &a->has_nbf, true, 0},
        {O_IAT, &a->iat, &a->has_iat, true, 0},
        {O_NOW, &a->now, &a->has_now, true, 0},
        {O_MAX_LIFETIME, &a->max_lifetime, NULL, false, MAX_SECONDS},
        {O_MAX_AGE, &a->max_age, NULL, false, MAX_SECONDS},
        {O_SKEW, &a->skew, &a->has_skew, false, 86400},
        {O_AT, &a->at, &a->has_at, true, 0},
        {0, NULL, NULL, false, 0},
    };
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1)
        if ((rc = parse_special(c, opts, ints, a, argv)) != 0) return rc;
    for (int i = optind; i < argc; i++) {
        if (a->n_positional >= 4) return cli_usage_error("jwt: too many arguments");
        a->positional[a->n_positional++] = argv[i];
    }
    if (a->help) return cli_help_or_usage(true, help);
    cli_json = a->json;
    return CLI_CONTINUE;
}

static int cmd_issue(int argc, char **argv) {
    jwt_args a;
    int rc = parse_args(argc, argv, &a, issue_help);
    if (rc != CLI_CONTINUE) return rc;
    if (a.n_positional)
        return cli_usage_error("jwt issue: unexpected argument '%s'", a.positional[0]);
    if (a.has_exp_in + a.has_exp_at + a.no_exp != 1)
        return cli_usage_error("jwt issue: give exactly one of --exp-in, --exp-at, --no-exp");
    if (a.sub && a.sub_peer) return cli_usage_error("jwt issue: --sub and --sub-peer conflict");
    if (a.has_iat && a.no_iat) return cli_usage_error("jwt issue: --iat and --no-iat conflict");
    if (a.n_iss > 1) return cli_usage_error("jwt issue: one --iss only");
    if (a.sub_peer && !is_peer_hex(a.sub_peer))
        return cli_usage_error("jwt issue: --sub-peer needs a 64-digit hex peer id");
    mk_jwt_key *key = NULL;
    rc = make_key(a.alg, true, a.key_hex, a.key_file, a.key_raw, &key);
    if (rc) return rc;

    mk_error err;
    mk_error_clear(&err);
    mk_jwt_builder *b = mk_jwt_builder_new();
    rc = b ? 0 : MK_ENOMEM;
    if (rc == 0 && a.n_iss) rc = mk_jwt_builder_set_issuer(b, a.iss[0]);
    if (rc == 0 && a.sub) rc = mk_jwt_builder_set_subject(b, a.sub);
    if (rc == 0 && a.sub_peer) {
        mk_id peer;
        mk_id_from_hex(&peer, a.sub_peer, NULL);
        rc = mk_jwt_builder_set_subject_peer(b, &peer);
    }
    for (size_t i = 0; rc == 0 && i < a.n_aud; i++)
        rc = mk_jwt_builder_add_audience(b, a.aud[i]);
    if (rc == 0 && a.jti) rc = mk_jwt_builder_set_id(b, a.jti);
    if (rc == 0 && a.has_exp_in) rc = mk_jwt_builder_set_expires_in(b, a.exp_in);
    if (rc == 0 && a.has_exp_at) rc = mk_jwt_builder_set_expires_at(b, a.exp_at);
    if (rc == 0 && a.has_nbf) rc = mk_jwt_builder_set_not_before(b, a.nbf);
    if (rc == 0 && a.has_iat) rc = mk_jwt_builder_set_issued_at(b, a.iat);
    if (rc == 0 && a.no_iat) rc = mk_jwt_builder_omit_issued_at(b);
    if (rc < 0) mk_error_set(&err, rc, "invalid claim value");
    for (size_t i = 0; rc == 0 && i < a.n_claims; i++)
        rc = mk_jwt_builder_set_claim(b, a.claims[i].name, a.claims[i].json, &err);
    char *tok = NULL;
    if (rc == 0) rc = mk_jwt_builder_sign(b, key, a.has_now ? a.now : mk_now(), &tok, &err);
    mk_jwt_builder_free(b);
    mk_jwt_key_free(key);
    if (rc < 0) return cli_fail_err("jwt issue", &err);
    mk_id cls;
    char hex[MK_ID_HEX_LEN];
    mk_jwt_class(&cls);
    mk_id_to_hex(&cls, hex);
    if (a.json) {
        json_t *o = json_pack("{s:s, s:s}", "token", tok, "class", hex);
        cli_emit(o);
        json_decref(o);
    } else {
        if (a.ticket) printf("%s\n", hex);
        printf("%s\n", tok);
    }
    free(tok);
    return CLI_OK;
}

static int read_token(const char *arg, mk_buf *out) {
    mk_error err;
    mk_error_clear(&err);
    if (!cli_is_stdin(arg))
        return mk_buf_append(out, arg, strlen(arg)) < 0
                   ? cli_fail(CLI_FAIL, "jwt verify: token too large")
                   : 0;
    if (cli_read_file("-", 2 * MK_JWT_MAX_TOKEN, out, &err) < 0)
        return cli_fail_err("jwt verify", &err);
    while (out->len && isspace(out->data[out->len - 1]))
        out->len--;
    return 0;
}

/* The verdict as one JSON object: valid, expires (or the refusal's code
 * and reason), the error object, and the decoded header and claims. */
static void print_json_result(bool valid, int rc, const char *reason, mk_expiration exp,
                              const mk_jwt *j) {
    json_t *o = json_object();
    json_object_set_new(o, "valid", json_boolean(valid));
    if (valid) {
        if (exp == MK_EXPIRES_NEVER) {
            json_object_set_new(o, "expires", json_null());
        } else {
            char t[MK_RFC3339_LEN];
            mk_time_format_rfc3339(exp, t);
            json_object_set_new(o, "expires", json_integer(exp));
            json_object_set_new(o, "expires_utc", json_string(t));
        }
    } else {
        json_object_set_new(o, "code", json_string(mk_strerror(rc)));
        json_object_set_new(o, "reason", json_string(reason));
    }
    cli_json_set_error(o, valid ? CLI_OK : CLI_FAIL, reason);
    if (j && j->header) json_object_set(o, "header", j->header);
    if (j && j->claims) json_object_set(o, "claims", j->claims);
    cli_emit(o);
    json_decref(o);
}

static int cmd_verify(int argc, char **argv) {
    jwt_args a;
    int rc = parse_args(argc, argv, &a, verify_help);
    if (rc != CLI_CONTINUE) return rc;
    if (a.n_positional != 1) return cli_usage_error("jwt verify: give one TOKEN (or '-')");
    int nsub = !!a.sub + !!a.sub_fixed + a.no_sub;
    if (nsub != 1)
        return cli_usage_error("jwt verify: give exactly one of --sub PEER_HEX, --sub-fixed S, "
                               "--no-sub");
    if (a.sub && !is_peer_hex(a.sub))
        return cli_usage_error("jwt verify: --sub needs a 64-digit hex peer id (or use "
                               "--sub-fixed)");
    mk_buf tok;
    mk_buf_init(&tok, 2 * MK_JWT_MAX_TOKEN);
    rc = read_token(a.positional[0], &tok);
    if (rc) {
        mk_buf_free(&tok);
        return rc;
    }
    mk_jwt_key *key = NULL;
    rc = make_key(a.alg, false, a.key_hex, a.key_file, a.key_raw, &key);
    if (rc) {
        mk_buf_free(&tok);
        return rc;
    }
    mk_jwt_validator_config o;
    mk_jwt_validator_config_init(&o);
    o.issuers = a.iss;
    o.n_issuers = a.n_iss;
    o.audiences = a.aud;
    o.n_audiences = a.n_aud;
    o.claims = a.claims;
    o.n_claims = a.n_claims;
    o.subject_mode = a.sub ? MK_JWT_SUB_PEER : a.sub_fixed ? MK_JWT_SUB_FIXED : MK_JWT_SUB_ANY;
    o.subject = a.sub_fixed;
    o.allow_non_expiring = a.allow_no_exp;
    o.max_lifetime = a.max_lifetime;
    o.max_age = a.max_age;
    if (a.has_skew) o.clock_skew = a.skew;
    mk_error err;
    mk_error_clear(&err);
    o.keys = (const mk_jwt_key *const *)&key;
    o.n_keys = 1;
    mk_validator *v = NULL;
    if (mk_jwt_validator_new(&o, &v, &err) < 0) {
        mk_jwt_key_free(key);
        mk_buf_free(&tok);
        return cli_usage_error("jwt verify: %s", err.msg);
    }
    mk_ticket t;
    mk_id cls;
    mk_jwt_class(&cls);
    mk_peer_view pv;
    memset(&pv, 0, sizeof pv);
    if (a.sub) mk_id_from_hex(&pv.peer_id, a.sub, NULL);
    rc = mk_ticket_init(&t, &cls, tok.data, tok.len);
    if (rc < 0) {
        mk_error_set(&err, rc, "token too large");
    } else {
        pv.tickets = &t;
        pv.n_tickets = 1;
        mk_expiration exp = 0;
        rc = mk_validator_check(v, &pv, a.has_at ? a.at : mk_now(), &exp, &err);
        mk_jwt j;
        memset(&j, 0, sizeof j);
        bool decoded = a.json && mk_jwt_decode((const char *)t.data, t.len,
                                               (const mk_jwt_key *const *)&key, 1, &j, NULL) == 0;
        if (a.json) print_json_result(rc == 0, rc, err.msg, exp, decoded ? &j : NULL);
        if (rc == 0 && !a.json) {
            char ts[MK_RFC3339_LEN];
            if (exp == MK_EXPIRES_NEVER)
                snprintf(ts, sizeof ts, "never");
            else
                mk_time_format_rfc3339(exp, ts);
            printf("valid: expires %s\n", ts);
        }
        mk_jwt_free(&j);
        mk_ticket_free(&t);
    }
    if (rc < 0) cli_fail(CLI_FAIL, "%s", err.msg);
    mk_validator_free(v);
    mk_jwt_key_free(key);
    mk_buf_free(&tok);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

void cli_jwt_usage(FILE *f) {
    fprintf(f, "usage: mosaik jwt issue|verify [options]\n\n");
    issue_help(f);
    fprintf(f, "\n");
    verify_help(f);
}

const cli_command cli_jwt_commands[] = {
    {"issue", cmd_issue, issue_help, NULL, "sign a JWT ticket", NULL, false},
    {"verify", cmd_verify, verify_help, NULL, "judge a JWT as the JWT ticket validator would", NULL,
     false},
    {NULL, NULL, NULL, NULL, NULL, NULL, false},
};
