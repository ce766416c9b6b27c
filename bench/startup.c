/* bench/startup.c: start-to-first-answer time and idle RSS of a server.
 *
 *   startup --port N [--runs K] [--idle-ms MS] [--cpu C] -- /path/to/ccproxy server --port N ...
 *
 * Each run: takes the time, fork()s and exec()s the command (pinned to CPU C with --cpu), and polls
 * GET /health on 127.0.0.1:N every 0.2 ms until it answers 200: that is the start-to-first-answer time
 * (exec included). It then waits --idle-ms, reads VmRSS/VmHWM of the idle server from /proc, sends
 * SIGTERM and reaps it. Prints every run, then min/median/max and a line "RESULT ...".
 *
 * Build: cc -O2 -o startup startup.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* 1 when GET /health answered 200, 0 otherwise. */
static int probe(int port)
{
    struct sockaddr_in a;
    char buf[64];
    const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
    ssize_t n;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = read(fd, buf, sizeof(buf) - 1);
        if (n > 12) {
            buf[n] = 0;
            ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0;
        }
    }
    close(fd);
    return ok;
}

typedef struct {
    long rss, hwm, anon, file, pss, priv; /* KiB */
} vm_t;

/* VmRSS, VmHWM, RssAnon, RssFile from /proc/PID/status; Pss and Private_* from smaps_rollup. */
static void vm(pid_t pid, vm_t *v)
{
    char p[64], line[256];
    FILE *f;

    v->rss = v->hwm = v->anon = v->file = v->pss = v->priv = -1;
    snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
    if ((f = fopen(p, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            v->rss = atol(line + 6);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            v->hwm = atol(line + 6);
        else if (strncmp(line, "RssAnon:", 8) == 0)
            v->anon = atol(line + 8);
        else if (strncmp(line, "RssFile:", 8) == 0)
            v->file = atol(line + 8);
    }
    fclose(f);
    snprintf(p, sizeof(p), "/proc/%d/smaps_rollup", (int)pid);
    if ((f = fopen(p, "r")) == NULL)
        return;
    v->priv = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Pss:", 4) == 0)
            v->pss = atol(line + 4);
        else if (strncmp(line, "Private_Clean:", 14) == 0)
            v->priv += atol(line + 14);
        else if (strncmp(line, "Private_Dirty:", 14) == 0)
            v->priv += atol(line + 14);
    }
    fclose(f);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_rss(const void *a, const void *b)
{
    long x = ((const vm_t *)a)->rss, y = ((const vm_t *)b)->rss;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = 0, runs = 10, idle_ms = 1000, cpu = -1, i;
    char **cmd = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            cmd = argv + i + 1;
            break;
        }
        if (i + 1 >= argc)
            break;
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--idle-ms") == 0)
            idle_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cpu") == 0)
            cpu = atoi(argv[++i]);
        else
            break;
    }
    if (port <= 0 || cmd == NULL || cmd[0] == NULL || runs <= 0) {
        fprintf(stderr, "usage: startup --port N [--runs K] [--idle-ms MS] [--cpu C] -- COMMAND ARGS...\n");
        return 2;
    }
    if (probe(port)) {
        fprintf(stderr, "startup: something already answers on port %d\n", port);
        return 2;
    }
    double *ms = calloc((size_t)runs, sizeof(double));
    vm_t *v = calloc((size_t)runs, sizeof(vm_t));
    int good = 0;

    for (int r = 0; r < runs; r++) {
        uint64_t t0 = now_us(), t1 = 0;
        pid_t pid = fork();

        if (pid == 0) {
            if (cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                sched_setaffinity(0, sizeof(set), &set);
            }
            execv(cmd[0], cmd);
            _exit(127);
        }
        while (now_us() - t0 < 5000000u) {
            int st;
            if (probe(port)) {
                t1 = now_us();
                break;
            }
            if (waitpid(pid, &st, WNOHANG) == pid) {
                fprintf(stderr, "startup: the server exited (status %d) before answering\n", st);
                pid = -1;
                break;
            }
            usleep(200);
        }
        if (pid > 0) {
            usleep((useconds_t)idle_ms * 1000u);
            vm(pid, &v[good]);
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
        if (t1 == 0) {
            fprintf(stderr, "startup: run %d: no 200 on /health within 5 s\n", r + 1);
            continue;
        }
        ms[good] = (double)(t1 - t0) / 1000.0;
        printf(
            "run %2d: first 200 on /health after %.2f ms; idle VmRSS %ld KiB (anon %ld, file %ld), VmHWM %ld "
            "KiB, Pss %ld KiB, private %ld KiB\n",
            r + 1, ms[good], v[good].rss, v[good].anon, v[good].file, v[good].hwm, v[good].pss, v[good].priv);
        good++;
        usleep(100000);
    }
    if (good == 0)
        return 1;
    qsort(ms, (size_t)good, sizeof(double), cmp_d);
    qsort(v, (size_t)good, sizeof(vm_t), cmp_rss);
    const vm_t *m = &v[good / 2];
    printf("start to first answer: min %.2f ms, median %.2f ms, max %.2f ms (%d runs)\n", ms[0], ms[good / 2],
           ms[good - 1], good);
    printf(
        "idle VmRSS: min %ld KiB, median %ld KiB, max %ld KiB; median run: RssAnon %ld KiB, RssFile %ld KiB, "
        "Pss %ld KiB, private %ld KiB\n",
        v[0].rss, m->rss, v[good - 1].rss, m->anon, m->file, m->pss, m->priv);
    printf("RESULT runs=%d start_ms_min=%.2f start_ms_p50=%.2f start_ms_max=%.2f idle_rss_kb=%ld "
           "idle_hwm_kb=%ld "
           "idle_anon_kb=%ld idle_file_kb=%ld idle_pss_kb=%ld idle_private_kb=%ld\n",
           good, ms[0], ms[good / 2], ms[good - 1], m->rss, m->hwm, m->anon, m->file, m->pss, m->priv);
    return good == runs ? 0 : 1;
}
