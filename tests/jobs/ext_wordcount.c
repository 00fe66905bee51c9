/* Word count as a Disco external program (DISCO.md 1.6), built by
 * tests/integration/test_ddfs_jobs.py with gcc.
 *
 * stdin:  "<len>\n" + netstring parameters ("<klen> <key> <vlen> <val>\n"...),
 *         then key/value pairs as <uint32 native length><bytes>.
 * map:    per input pair, reply <uint32 count> and count pairs (word, weight);
 *         weight is the "weight" parameter (default "1").
 * reduce: read all (word, count) pairs until EOF, then reply <uint32 count> and the
 *         (word, total) pairs (replies come in such batches until EOF, as map's).
 * stderr: "**<MSG> text" becomes a job event.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 4096
#define MAX_ITEM (1 << 20)

static char weight[64] = "1";

static int read_exact(void *buf, size_t size) {
    return size == 0 || fread(buf, 1, size, stdin) == size;
}

static char *read_item(uint32_t *size) {
    char *data;
    if (!read_exact(size, sizeof(*size)) || *size > MAX_ITEM)
        return NULL;
    data = malloc(*size + 1);
    if (!data || !read_exact(data, *size)) {
        free(data);
        return NULL;
    }
    data[*size] = 0;
    return data;
}

static void write_item(const char *data, uint32_t size) {
    fwrite(&size, sizeof(size), 1, stdout);
    fwrite(data, 1, size, stdout);
}

static void read_params(void) {
    long length = 0;
    char *body, *pos;
    if (scanf("%ld", &length) != 1 || getchar() != '\n' || length <= 0)
        return;
    body = calloc(length + 1, 1);
    if (!body || !read_exact(body, length))
        exit(1);
    for (pos = body; pos < body + length;) {
        int klen, vlen;
        char *key, *val;
        klen = atoi(pos);
        key = strchr(pos, ' ') + 1;
        vlen = atoi(key + klen + 1);
        val = strchr(key + klen + 1, ' ') + 1;
        if (klen == 6 && !strncmp(key, "weight", 6) && vlen < (int)sizeof(weight)) {
            memcpy(weight, val, vlen);
            weight[vlen] = 0;
        }
        pos = val + vlen + 1;
    }
    free(body);
}

static int count_words(const char *line) {
    int n = 0, in_word = 0;
    for (; *line; line++) {
        int space = (*line == ' ' || *line == '\n' || *line == '\t');
        if (!space && !in_word)
            n++;
        in_word = !space;
    }
    return n;
}

static void do_map(void) {
    uint32_t ksize, vsize;
    char *key, *value;
    while ((key = read_item(&ksize)) != NULL) {
        char *word, *save = NULL;
        uint32_t count;
        value = read_item(&vsize);
        if (!value)
            exit(2);
        count = count_words(value);
        fwrite(&count, sizeof(count), 1, stdout);
        for (word = strtok_r(value, " \t\n", &save); word; word = strtok_r(NULL, " \t\n", &save)) {
            write_item(word, strlen(word));
            write_item(weight, strlen(weight));
        }
        fflush(stdout);
        free(key);
        free(value);
    }
}

static void do_reduce(void) {
    static char *words[MAX_WORDS];
    static long totals[MAX_WORDS];
    int n = 0, i;
    uint32_t ksize, vsize;
    char *key, *value;
    while ((key = read_item(&ksize)) != NULL) {
        value = read_item(&vsize);
        if (!value)
            exit(2);
        for (i = 0; i < n && strcmp(words[i], key); i++)
            ;
        if (i == n) {
            if (n == MAX_WORDS) {
                fprintf(stderr, "**<ERR> too many words\n");
                exit(3);
            }
            words[n++] = strdup(key);
        }
        totals[i] += atol(value);
        free(key);
        free(value);
    }
    uint32_t pairs = (uint32_t)n;
    fwrite(&pairs, sizeof(pairs), 1, stdout);
    for (i = 0; i < n; i++) {
        char total[32];
        snprintf(total, sizeof(total), "%ld", totals[i]);
        write_item(words[i], strlen(words[i]));
        write_item(total, strlen(total));
    }
    fprintf(stderr, "**<MSG> reduced %d words\n", n);
    fflush(stdout);
}

int main(int argc, char **argv) {
    read_params();
    if (argc > 1 && !strcmp(argv[1], "reduce"))
        do_reduce();
    else
        do_map();
    return 0;
}
