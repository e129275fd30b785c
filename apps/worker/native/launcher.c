/*
 * maestro-launcher: the step launcher of scripts/launcher.sh, compiled. Same arguments, same
 * descriptors, same requests and events (launcher.sh documents them); the worker uses this one
 * when it was built (npm run build, with a C compiler) and answers `--check`, else the script.
 *
 * Why compiled: the script's bash spends about half a millisecond of CPU on every step (reading
 * the request, redirections, a fork of itself, its subshell's setup); here one process serves
 * every slot from one poll() loop and forks a process of a few hundred kilobytes.
 *
 * Differences from the script, none visible to the worker: the slots are not processes (a
 * slot cannot die alone, so the worker's per-slot recovery never triggers), it needs no
 * setpriv (it asks the kernel for SIGTERM on its parent's death itself), and it never reports
 * L (a lost status is a bash 5.2 quirk).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define US '\x1f'

struct slot {
  int fd;         /* request channel, -1 once closed */
  char *buf;      /* bytes read and not yet served */
  size_t len, cap;
  pid_t pid;      /* running step (its process group), 0 if none */
  char id[32];    /* its request id */
};

static struct slot *slots;
static int nslots;
static pid_t worker_pid;
static int grace_ticks;
static int wake[2] = {-1, -1}; /* self-pipe: SIGCHLD and the caught signals wake poll() */
static volatile sig_atomic_t got_end;
/* Caught: what schedulers send as an allocation ends (Slurm SIGTERM; Flux SIGALRM at the
 * walltime, SIGTERM and SIGHUP on cancel, SIGUSR1/2 from --signal). While the worker lives they
 * are the worker's to handle: it stops the steps itself and reports them preempted. Once it is
 * gone (the kernel's SIGTERM on its death, or any of these after it), the steps are reaped here.
 * The worker starts this launcher in a session of its own, so signals to the worker's process
 * group (a job shell killing its task) reach it only when sent to every process. */
static const int caught[] = {SIGTERM, SIGALRM, SIGHUP, SIGUSR1, SIGUSR2};
/* Ignored: INT is the worker's to handle (Ctrl-C); a closed event pipe is seen on the lifeline. */
static const int ignored[] = {SIGINT, SIGPIPE};

static void on_signal(int sig) {
  int saved = errno;
  if (sig != SIGCHLD) got_end = 1;
  char c = 0;
  (void)!write(wake[1], &c, 1);
  errno = saved;
}

/* One event line in one write: lines from a single writer never mix. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...) {
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  for (int off = 0; off < n;) {
    ssize_t w = write(1, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* the worker is gone: the lifeline says so too */
    off += w;
  }
}

static int group_alive(pid_t g) { return kill(-g, 0) == 0 || errno == EPERM; }

static void sleep_tick(void) {
  struct timespec t = {0, 100 * 1000 * 1000};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {
  }
}

/* The worker is gone: SIGTERM to every step's group, SIGKILL to those left after the grace. */
static void reap_all(void) {
  signal(SIGCHLD, SIG_DFL);
  int any = 0;
  for (int k = 0; k < nslots; k++)
    if (slots[k].pid > 0 && kill(-slots[k].pid, SIGTERM) == 0) any = 1;
  for (int t = 0; any && t < grace_ticks; t++) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    any = 0;
    for (int k = 0; k < nslots; k++)
      if (slots[k].pid > 0 && group_alive(slots[k].pid)) any = 1;
    if (any) sleep_tick();
  }
  for (int k = 0; k < nslots; k++)
    if (slots[k].pid > 0) kill(-slots[k].pid, SIGKILL);
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  exit(0);
}

/* FILE -> FILE.n (first free n) if FILE has content: attempts never overwrite each other. */
static void keep_earlier(const char *file) {
  struct stat st;
  if (stat(file, &st) != 0 || st.st_size == 0) return;
  size_t n = strlen(file) + 24;
  char *to = malloc(n);
  if (!to) return;
  for (unsigned k = 1;; k++) {
    snprintf(to, n, "%s.%u", file, k);
    if (access(to, F_OK) != 0) break;
  }
  (void)rename(file, to);
  free(to);
}

static int open_output(const char *file) {
  return open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
}

static void start(struct slot *s, char **f, int nf);

/* Serves one request: R US id US workspace US out US err US keep US n US VAR=value... US argv... */
static void serve(struct slot *s, char *record) {
  int nf = 1;
  for (const char *p = record; (p = strchr(p, US)) != NULL; p++) nf++;
  char **f = malloc(((size_t)nf + 1) * sizeof *f);
  if (!f) return;
  nf = 0;
  for (char *p = record;; p++) {
    f[nf++] = p;
    p = strchr(p, US);
    if (!p) break;
    *p = '\0';
  }
  f[nf] = NULL;
  start(s, f, nf);
  free(f);
}

static void start(struct slot *s, char **f, int nf) {
  if (nf < 8 || strcmp(f[0], "R") != 0) { /* the worker never sends such a thing */
    if (nf >= 2) event("X%c%s%cmalformed request", US, f[1], US);
    return;
  }
  const char *id = f[1], *ws = f[2], *out = f[3], *err = f[4];
  int keep = strcmp(f[5], "1") == 0;
  int nvars = atoi(f[6]);
  if (nvars < 0 || 7 + nvars >= nf) {
    event("X%c%s%cmalformed request", US, id, US);
    return;
  }
  if (chdir(ws) != 0) {
    event("X%c%s%ccannot enter the workspace %s", US, id, US, ws);
    return;
  }
  if (keep) {
    keep_earlier(out);
    keep_earlier(err);
  }
  int ofd = open_output(out);
  if (ofd < 0) {
    event("X%c%s%ccannot write %s", US, id, US, out);
    return;
  }
  int efd = open_output(err);
  if (efd < 0) {
    close(ofd);
    event("X%c%s%ccannot write %s", US, id, US, err);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* The step: its own process group, default signal handling, stdin /dev/null. exec resets
     * the signals this launcher catches; those it ignores it must reset itself (the worker
     * starts it with every signal at its default). */
    setpgid(0, 0);
    for (size_t k = 0; k < sizeof ignored / sizeof ignored[0]; k++) signal(ignored[k], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0 && in != 0) {
      dup2(in, 0);
      close(in);
    }
    dup2(ofd, 1);
    dup2(efd, 2);
    /* Every other descriptor is close-on-exec, or closed here: the lifeline and channels. */
    for (int k = 0; k < nslots; k++)
      if (slots[k].fd >= 0) close(slots[k].fd);
    for (int k = 0; k < nvars; k++) putenv(f[7 + k]);
    char **argv = &f[7 + nvars];
    execvp(argv[0], argv);
    int e = errno;
    dprintf(2, "maestro-launcher: cannot execute %s: %s\n", argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  close(ofd);
  close(efd);
  if (pid < 0) {
    event("X%c%s%ccannot start a process: %s", US, id, US, strerror(errno));
    return;
  }
  setpgid(pid, pid); /* also here: the group exists before anyone signals it */
  s->pid = pid;
  snprintf(s->id, sizeof s->id, "%s", id);
  event("S%c%s%c%d", US, id, US, (int)pid);
}

/* Serves the requests complete in a slot's buffer (one at a time: the next waits for the end). */
static void serve_ready(struct slot *s) {
  while (s->pid == 0 && s->len >= 8) {
    char head[9];
    memcpy(head, s->buf, 8);
    head[8] = '\0';
    char *end;
    unsigned long n = strtoul(head, &end, 10);
    if (*end != '\0') { /* a broken channel: stop reading it */
      close(s->fd);
      s->fd = -1;
      s->len = 0;
      return;
    }
    if (s->len < 8 + n) return;
    char *record = malloc(n + 1);
    if (!record) return;
    memcpy(record, s->buf + 8, n);
    record[n] = '\0';
    memmove(s->buf, s->buf + 8 + n, s->len - 8 - n);
    s->len -= 8 + n;
    serve(s, record);
    free(record);
  }
}

static void read_channel(struct slot *s) {
  if (s->cap - s->len < 65536) {
    size_t cap = s->cap * 2 + 65536;
    char *b = realloc(s->buf, cap);
    if (!b) return;
    s->buf = b;
    s->cap = cap;
  }
  ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) { /* end of file: the worker closed this channel */
    close(s->fd);
    s->fd = -1;
    return;
  }
  s->len += r;
  serve_ready(s);
}

static void reap_children(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int k = 0; k < nslots; k++) {
      struct slot *s = &slots[k];
      if (s->pid != pid) continue;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
      /* The worker looks for leftovers of the group (and kills them) only if there are any. */
      int left = group_alive(pid);
      s->pid = 0;
      event("E%c%s%c%d%c%d", US, s->id, US, code, US, left);
      serve_ready(s);
      break;
    }
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--check") == 0) {
    puts("ok");
    return 0;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: maestro-launcher WORKER_PID [GRACE_SECONDS [SLOTS]]\n");
    return 2;
  }
  worker_pid = (pid_t)atoi(argv[1]);
  grace_ticks = (argc > 2 ? atoi(argv[2]) : 2) * 10;
  nslots = argc > 3 ? atoi(argv[3]) : 1;
  if (nslots < 1) nslots = 1;
  /* SIGTERM when the worker dies, however it dies; checked at once in case it already has. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != worker_pid) return 0;

  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  for (size_t k = 0; k < sizeof caught / sizeof caught[0]; k++) sigaction(caught[k], &sa, NULL);
  for (size_t k = 0; k < sizeof ignored / sizeof ignored[0]; k++) signal(ignored[k], SIG_IGN);

  slots = calloc((size_t)nslots, sizeof *slots);
  struct pollfd *fds = calloc((size_t)nslots + 2, sizeof *fds);
  if (!slots || !fds) return 1;
  for (int k = 0; k < nslots; k++) {
    slots[k].fd = 3 + k;
    fcntl(slots[k].fd, F_SETFD, FD_CLOEXEC);
  }
  fcntl(0, F_SETFD, FD_CLOEXEC);

  for (;;) {
    if (got_end) {
      got_end = 0;
      /* While the worker lives, it handles these itself (it drains, or preempts its steps). */
      if (getppid() != worker_pid) reap_all();
    }
    fds[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = wake[0], .events = POLLIN};
    for (int k = 0; k < nslots; k++) fds[2 + k] = (struct pollfd){.fd = slots[k].fd, .events = POLLIN};
    int n = poll(fds, (nfds_t)nslots + 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[1].revents) {
      char drain[64];
      while (read(wake[0], drain, sizeof drain) > 0) {
      }
      reap_children();
    }
    if (fds[0].revents) {
      /* Nothing is ever written to the lifeline: readable means end of file, the worker is gone. */
      char c;
      ssize_t r = read(0, &c, 1);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) reap_all();
    }
    for (int k = 0; k < nslots; k++)
      if (slots[k].fd >= 0 && fds[2 + k].revents) read_channel(&slots[k]);
  }
}
