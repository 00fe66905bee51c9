/*
 * A Disco worker in C: word count, speaking Disco's worker protocol directly.
 *
 * Build:   cc -O2 -o worker worker.c
 * Run:     disco job -m -r -n 1 ./worker raw://hello%20world http://host/file.txt ...
 *
 * The node starts this program in the job home and talks to it over a pipe:
 * messages are "NAME SP LENGTH SP JSON-PAYLOAD \n" in both directions. We write ours to
 * stderr (the node merges stdout and stderr) and read the node's replies from stdin.
 *
 *   WORKER {"version":"1.1","pid":N}  -> OK
 *   TASK ""                           -> TASK {host, disco_port, disco_data, stage, taskid, ...}
 *   INPUT ""                          -> INPUT ["done"|"more", [[id,"ok",label,[[rep,url],..]],..]]
 *   INPUT_ERR [id,[rep,...]]          -> RETRY [[rep,url],...] | FAIL ""   (all replicas failed)
 *   MSG "text"                        -> OK
 *   OUTPUT [label, "relative/path", size] -> OK
 *   DONE ""                           (no reply: the node ends the process)
 *
 * Stages of a classic (version 1) job: "map" counts the words of each input line,
 * "reduce" sums "word count" lines, and the shuffle stages pass every labelled output of
 * their dir:// inputs on unchanged (a URL with a scheme is recorded as a remote output).
 * Outputs are plain text, one "word count" line per word, sorted.
 *
 * Inputs: raw://DATA, file:///path, /path, http://host:port/path, disco://host/path
 * (read from disk when host is this node, else over HTTP at disco_port), and
 * dir://host/path index files ("label url size" lines, filtered by the input's label).
 * Only the C library and POSIX sockets are used.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- small buffers */

typedef struct { char *data; size_t len, cap; } buf_t;

static void die(const char *fmt, ...);

static void buf_add(buf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) die("out of memory");
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* JSON string literal for s (quotes, backslashes and control bytes escaped). */
static void buf_json_string(buf_t *b, const char *s) {
    buf_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; buf_add(b, e, 2); }
        else if (c < 0x20) buf_printf(b, "\\u%04x", c);
        else buf_add(b, (const char *)&c, 1);
    }
    buf_str(b, "\"");
}

/* ---------------------------------------------------------------- protocol I/O */

static void send_msg(const char *name, const char *payload) {
    buf_t m = {0};
    buf_printf(&m, "%s %zu ", name, strlen(payload));
    buf_str(&m, payload);
    buf_str(&m, "\n");
    size_t off = 0;
    while (off < m.len) {
        ssize_t w = write(2, m.data + off, m.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(3);
        off += (size_t)w;
    }
    free(m.data);
}

/* A fatal problem in this worker: report it as ERROR (the task is retried) and exit. */
static void die(const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    buf_t p = {0};
    buf_json_string(&p, text);
    send_msg("ERROR", p.data);
    exit(1);
}

/* Read one reply "NAME LEN PAYLOAD\n" from stdin; payload is malloc'ed and NUL-terminated. */
static char *recv_msg(char name[16]) {
    size_t i = 0, len = 0;
    int c;
    while ((c = getchar()) != ' ') {
        if (c == EOF || i >= 15) exit(4);
        name[i++] = (char)c;
    }
    name[i] = '\0';
    while ((c = getchar()) != ' ') {
        if (!isdigit(c)) exit(4);
        len = len * 10 + (size_t)(c - '0');
    }
    char *payload = malloc(len + 1);
    if (!payload || fread(payload, 1, len, stdin) != len || getchar() != '\n') exit(4);
    payload[len] = '\0';
    return payload;
}

/* ---------------------------------------------------------------- a tiny JSON parser */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct json {
    int type;
    double num;
    char *str;                 /* J_STR */
    size_t n;                  /* J_ARR / J_OBJ: number of items */
    struct json **items;       /* J_ARR / J_OBJ values */
    char **keys;               /* J_OBJ keys */
} json;

static const char *skip_ws(const char *p) { while (isspace((unsigned char)*p)) p++; return p; }

static void utf8_encode(buf_t *b, unsigned cp) {
    char out[4];
    if (cp < 0x80) { out[0] = (char)cp; buf_add(b, out, 1); }
    else if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); buf_add(b, out, 2); }
    else if (cp < 0x10000) { out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F)); buf_add(b, out, 3); }
    else { out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); buf_add(b, out, 4); }
}

static const char *parse_string(const char *p, char **out) {
    buf_t b = {0};
    buf_add(&b, "", 0);
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') { buf_add(&b, p, 1); continue; }
        p++;
        switch (*p) {
        case 'n': buf_add(&b, "\n", 1); break;
        case 't': buf_add(&b, "\t", 1); break;
        case 'r': buf_add(&b, "\r", 1); break;
        case 'b': buf_add(&b, "\b", 1); break;
        case 'f': buf_add(&b, "\f", 1); break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                unsigned lo = (unsigned)strtoul((char[5]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            utf8_encode(&b, cp);
            break;
        }
        default: buf_add(&b, p, 1); /* \" \\ \/ */
        }
    }
    if (*p != '"') die("bad JSON string from the node");
    *out = b.data;
    return p + 1;
}

static const char *parse_value(const char *p, json **out) {
    json *v = calloc(1, sizeof *v);
    p = skip_ws(p);
    if (*p == '"') { v->type = J_STR; p = parse_string(p, &v->str); }
    else if (*p == '[' || *p == '{') {
        int is_obj = *p == '{';
        char close = is_obj ? '}' : ']';
        v->type = is_obj ? J_OBJ : J_ARR;
        p = skip_ws(p + 1);
        while (*p && *p != close) {
            v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
            v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
            v->keys[v->n] = NULL;
            if (is_obj) {
                p = parse_string(skip_ws(p), &v->keys[v->n]);
                p = skip_ws(p);
                if (*p++ != ':') die("bad JSON object from the node");
            }
            p = skip_ws(parse_value(p, &v->items[v->n]));
            v->n++;
            if (*p == ',') p = skip_ws(p + 1);
        }
        if (*p != close) die("bad JSON array/object from the node");
        p++;
    } else if (!strncmp(p, "true", 4)) { v->type = J_BOOL; v->num = 1; p += 4; }
    else if (!strncmp(p, "false", 5)) { v->type = J_BOOL; p += 5; }
    else if (!strncmp(p, "null", 4)) { v->type = J_NULL; p += 4; }
    else { char *end; v->type = J_NUM; v->num = strtod(p, &end); if (end == p) die("bad JSON from the node"); p = end; }
    *out = v;
    return p;
}

static json *parse_json(const char *text) { json *v; parse_value(text, &v); return v; }

static json *get(json *obj, const char *key) {
    for (size_t i = 0; obj && obj->type == J_OBJ && i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}

static const char *get_str(json *obj, const char *key) {
    json *v = get(obj, key);
    return v && v->type == J_STR ? v->str : "";
}

/* Send a message and return the parsed reply payload; the reply name must be `expect`. */
static json *request(const char *name, const char *payload, char reply_name[16]) {
    send_msg(name, payload);
    char *text = recv_msg(reply_name);
    json *v = parse_json(text);
    free(text);
    return v;
}

/* ---------------------------------------------------------------- the task */

static json *task;
static const char *task_host, *disco_data, *ddfs_data;
static int disco_port;

/* ---------------------------------------------------------------- reading inputs */

static int read_file(const char *path, buf_t *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(out, chunk, n);
    fclose(f);
    return 0;
}

/* GET http://host[:port]/path with HTTP/1.0 (no chunked replies); body appended to out. */
static int http_get(const char *url, buf_t *out) {
    char host[256], port[16] = "80";
    const char *p = url + strlen("http://");
    const char *path = strchr(p, '/');
    if (!path) path = p + strlen(p);
    size_t hostlen = (size_t)(path - p);
    if (hostlen >= sizeof host) return -1;
    memcpy(host, p, hostlen);
    host[hostlen] = '\0';
    char *colon = strrchr(host, ':');
    if (colon) { snprintf(port, sizeof port, "%s", colon + 1); *colon = '\0'; }

    struct addrinfo hints = {0}, *addrs;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &addrs)) return -1;
    int fd = -1;
    for (struct addrinfo *a = addrs; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(addrs);
    if (fd < 0) return -1;

    buf_t req = {0};
    buf_printf(&req, "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n",
               *path ? path : "/", host, port);
    int failed = write(fd, req.data, req.len) != (ssize_t)req.len;
    free(req.data);

    buf_t reply = {0};
    char chunk[65536];
    ssize_t n;
    while (!failed && (n = read(fd, chunk, sizeof chunk)) > 0) buf_add(&reply, chunk, (size_t)n);
    close(fd);
    if (failed || !reply.data) return -1;
    int status = 0;
    sscanf(reply.data, "HTTP/%*s %d", &status);
    char *body = strstr(reply.data, "\r\n\r\n");
    if (status != 200 || !body) { free(reply.data); return -1; }
    body += 4;
    buf_add(out, body, reply.len - (size_t)(body - reply.data));
    free(reply.data);
    return 0;
}

/* disco://HOST/PATH: the local file when HOST is this node, else HTTP at disco_port. */
static int read_disco(const char *rest, buf_t *out) {
    const char *slash = strchr(rest, '/');
    if (!slash) return -1;
    size_t hostlen = (size_t)(slash - rest);
    char path[4096];
    if (strlen(task_host) == hostlen && !strncmp(rest, task_host, hostlen)) {
        if (!strncmp(slash, "/disco/", 7))
            snprintf(path, sizeof path, "%s/%s", disco_data, slash + 7);
        else if (!strncmp(slash, "/ddfs/", 6))
            snprintf(path, sizeof path, "%s/%s", ddfs_data, slash + 6);
        else path[0] = '\0';
        if (path[0] && read_file(path, out) == 0) return 0;
    }
    snprintf(path, sizeof path, "http://%.*s:%d%s", (int)hostlen, rest, disco_port, slash);
    return http_get(path, out);
}

static int read_url(const char *url, int label, buf_t *out);

/* dir://HOST/PATH: an index of "label url size" lines; read the entries with `label`. */
static int read_dir(const char *rest, int label, buf_t *out) {
    buf_t index = {0};
    if (read_disco(rest, &index) != 0) return -1;
    int status = 0;
    for (char *line = index.data, *next; status == 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        int entry_label;
        char url[4096];
        if (sscanf(line, "%d %4095s", &entry_label, url) != 2) continue;
        if (label < 0 || entry_label == label) status = read_url(url, -1, out);
    }
    free(index.data);
    return status;
}

/* Append the data behind `url` to out; label < 0 means "all labels". */
static int read_url(const char *url, int label, buf_t *out) {
    if (!strncmp(url, "raw://", 6)) { buf_str(out, url + 6); buf_str(out, "\n"); return 0; }
    if (!strncmp(url, "file://", 7)) return read_file(url + 7, out);
    if (url[0] == '/') return read_file(url, out);
    if (!strncmp(url, "http://", 7)) return http_get(url, out);
    if (!strncmp(url, "disco://", 8)) return read_disco(url + 8, out);
    if (!strncmp(url, "dir://", 6)) return read_dir(url + 6, label, out);
    return -1;
}

/* Read one input, trying its replicas; when all fail, INPUT_ERR asks for others. */
static void read_input(json *input, buf_t *out) {
    int id = (int)input->items[0]->num;
    json *label_v = input->items[2];
    int label = label_v->type == J_NUM ? (int)label_v->num : -1;   /* "all" -> -1 */
    json *replicas = input->items[3];
    for (;;) {
        buf_t failed = {0};
        for (size_t i = 0; i < replicas->n; i++) {
            json *rep = replicas->items[i];
            if (read_url(rep->items[1]->str, label, out) == 0) { free(failed.data); return; }
            buf_printf(&failed, "%s%d", failed.len ? "," : "", (int)rep->items[0]->num);
        }
        buf_t payload = {0};
        buf_printf(&payload, "[%d,[%s]]", id, failed.data ? failed.data : "");
        char name[16];
        replicas = request("INPUT_ERR", payload.data, name);
        free(payload.data);
        free(failed.data);
        if (strcmp(name, "RETRY")) die("input %d: every replica failed", id);
    }
}

/* ---------------------------------------------------------------- word counts */

typedef struct { char *word; long count; } entry_t;
static entry_t *table;
static size_t table_cap, table_len;

static unsigned long hash(const char *s, size_t n) {
    unsigned long h = 5381;
    while (n--) h = h * 33 + (unsigned char)*s++;
    return h;
}

static void add_word(const char *word, size_t n, long count) {
    if (table_len * 2 >= table_cap) {            /* grow and rehash */
        size_t old_cap = table_cap;
        entry_t *old = table;
        table_cap = table_cap ? table_cap * 2 : 1024;
        table = calloc(table_cap, sizeof *table);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].word) {
                size_t j = hash(old[i].word, strlen(old[i].word)) % table_cap;
                while (table[j].word) j = (j + 1) % table_cap;
                table[j] = old[i];
            }
        free(old);
    }
    size_t j = hash(word, n) % table_cap;
    while (table[j].word && !(strlen(table[j].word) == n && !memcmp(table[j].word, word, n)))
        j = (j + 1) % table_cap;
    if (!table[j].word) { table[j].word = strndup(word, n); table_len++; }
    table[j].count += count;
}

/* map: every whitespace-separated word counts 1. */
static void count_words(const char *text) {
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        add_word(start, (size_t)(p - start), 1);
    }
}

/* reduce: lines "word count" are summed. */
static void sum_counts(char *text) {
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *space = strrchr(line, ' ');
        if (space && space != line) add_word(line, (size_t)(space - line), atol(space + 1));
    }
}

static int by_word(const void *a, const void *b) {
    return strcmp(((const entry_t *)a)->word, ((const entry_t *)b)->word);
}

/* Write the counts, sorted by word, to a file in the job home; report it with OUTPUT. */
static void write_output(const char *stage, int taskid) {
    entry_t *sorted = malloc((table_len + 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; i < table_cap; i++) if (table[i].word) sorted[n++] = table[i];
    qsort(sorted, n, sizeof *sorted, by_word);

    char path[256], tmp[300];
    snprintf(path, sizeof path, "cworker-%s-%d-%d.txt", stage, taskid, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "w");
    if (!f) die("cannot write %s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < n; i++) fprintf(f, "%s %ld\n", sorted[i].word, sorted[i].count);
    if (fclose(f) != 0 || rename(tmp, path) != 0) die("cannot write %s: %s", path, strerror(errno));
    struct stat st;
    stat(path, &st);

    buf_t payload = {0}, msg = {0};
    buf_str(&payload, "[0,");
    buf_json_string(&payload, path);
    buf_printf(&payload, ",%lld]", (long long)st.st_size);
    char name[16];
    request("OUTPUT", payload.data, name);
    buf_printf(&msg, "C worker %s:%d counted %zu distinct words", stage, taskid, n);
    buf_t quoted = {0};
    buf_json_string(&quoted, msg.data);
    request("MSG", quoted.data, name);
    free(sorted);
}

/* shuffle stages: pass each labelled entry of the dir:// inputs on as a remote output. */
static void shuffle(json *inputs) {
    for (size_t i = 0; i < inputs->n; i++) {
        json *input = inputs->items[i];
        json *label_v = input->items[2];
        const char *url = input->items[3]->items[0]->items[1]->str;
        buf_t index = {0};
        if (!strncmp(url, "dir://", 6) && read_disco(url + 6, &index) == 0) {
            for (char *line = index.data, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next) *next++ = '\0';
                int label;
                char entry[4096];
                long long size;
                if (sscanf(line, "%d %4095s %lld", &label, entry, &size) != 3) continue;
                if (label_v->type == J_NUM && label != (int)label_v->num) continue;
                buf_t payload = {0};
                buf_printf(&payload, "[%d,", label);
                buf_json_string(&payload, entry);
                buf_printf(&payload, ",%lld]", size);
                char name[16];
                request("OUTPUT", payload.data, name);
                free(payload.data);
            }
        } else {
            buf_t payload = {0};
            buf_printf(&payload, "[%d,", label_v->type == J_NUM ? (int)label_v->num : 0);
            buf_json_string(&payload, url);
            buf_str(&payload, ",0]");
            char name[16];
            request("OUTPUT", payload.data, name);
            free(payload.data);
        }
        free(index.data);
    }
}

/* All inputs of the task: ask until the node says "done" (concurrent stages say "more"). */
static json *all_inputs(void) {
    json *all = calloc(1, sizeof *all);
    all->type = J_ARR;
    buf_t seen = {0};
    for (;;) {
        buf_t payload = {0};
        if (seen.len) buf_printf(&payload, "[\"exclude\",[%s]]", seen.data);
        else buf_str(&payload, "\"\"");
        char name[16];
        json *reply = request("INPUT", payload.data, name);
        free(payload.data);
        json *batch = reply->items[1];
        for (size_t i = 0; i < batch->n; i++) {
            all->items = realloc(all->items, (all->n + 1) * sizeof *all->items);
            all->items[all->n++] = batch->items[i];
            buf_printf(&seen, "%s%d", seen.len ? "," : "", (int)batch->items[i]->items[0]->num);
        }
        if (!strcmp(reply->items[0]->str, "done")) return all;
    }
}

int main(void) {
    char name[16];
    buf_t hello = {0};
    buf_printf(&hello, "{\"version\":\"1.1\",\"pid\":%d}", (int)getpid());
    request("WORKER", hello.data, name);

    task = request("TASK", "\"\"", name);
    task_host = get_str(task, "host");
    disco_data = get_str(task, "disco_data");
    ddfs_data = get_str(task, "ddfs_data");
    json *port = get(task, "disco_port");
    disco_port = port ? (int)port->num : 8989;
    const char *stage = get_str(task, "stage");
    json *taskid_v = get(task, "taskid");
    int taskid = taskid_v ? (int)taskid_v->num : 0;

    json *inputs = all_inputs();
    if (strstr(stage, "shuffle")) {
        shuffle(inputs);
    } else {
        for (size_t i = 0; i < inputs->n; i++) {
            buf_t data = {0};
            buf_add(&data, "", 0);
            read_input(inputs->items[i], &data);
            if (!strcmp(stage, "map")) count_words(data.data);
            else sum_counts(data.data);
            free(data.data);
        }
        write_output(stage, taskid);
    }
    send_msg("DONE", "\"\"");
    /* DONE gets no reply: the node ends this process. Wait for that, or for stdin to close. */
    while (getchar() != EOF) {}
    return 0;
}
