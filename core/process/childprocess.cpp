#include "childprocess.h"

#include "processtree.h"

#include "../timerheap.h"

#include <QFile>
#include <QStandardPaths>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

extern char **environ;

namespace {

enum class Step : int { None, Group, Stdio, Directory, MemoryLimit, Exec };

// Everything the child needs, prepared by the parent before clone(). The child shares
// the parent's memory (CLONE_VM) and only reads this, except the two failure fields it
// writes before _exit() so the parent can tell why.
struct SpawnPlan
{
    const char *path = nullptr;
    char *const *argv = nullptr;
    char *const *envp = nullptr;
    const char *shellPath = nullptr; // for a script without a #! line (ENOEXEC), as execvp
    char *const *shellArgv = nullptr;
    const char *directory = nullptr;
    int stdinFd = -1;
    int stdoutFd = -1;
    int stderrFd = -1;
    bool limitMemory = false;
    rlimit memory{};
    volatile int failedStep = int(Step::None);
    volatile int error = 0;
};

// The child between clone() and execve(). The parent is multi-threaded and this child
// shares its memory, so only async-signal-safe system calls: no allocation, no locks.
// Signal handlers are reset first (a parent's handler must never run here); all signals
// are blocked from before clone() until the exec. Not instrumented by AddressSanitizer:
// its stack bookkeeping would land in the parent's shadow memory.
[[noreturn]] __attribute__((no_sanitize_address)) void childFailed(SpawnPlan *plan, Step step)
{
    plan->error = errno;
    plan->failedStep = int(step);
    _exit(127);
}

__attribute__((no_sanitize_address)) int childMain(void *arg)
{
    SpawnPlan *plan = static_cast<SpawnPlan *>(arg);
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, nullptr); // also resets SIG_IGN (SIGPIPE) for the script
    if (setpgid(0, 0) != 0)
        childFailed(plan, Step::Group);
    if (dup2(plan->stdinFd, 0) < 0 || dup2(plan->stdoutFd, 1) < 0 || dup2(plan->stderrFd, 2) < 0)
        childFailed(plan, Step::Stdio);
    // Nothing but stdio crosses the exec, even descriptors opened without O_CLOEXEC.
    close_range(3, ~0U, 0);
    if (chdir(plan->directory) != 0)
        childFailed(plan, Step::Directory);
    if (plan->limitMemory && setrlimit(RLIMIT_AS, &plan->memory) != 0)
        childFailed(plan, Step::MemoryLimit);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(plan->path, plan->argv, plan->envp);
    if (errno == ENOEXEC && plan->shellArgv)
        execve(plan->shellPath, plan->shellArgv, plan->envp);
    childFailed(plan, Step::Exec);
}

// A close-on-exec descriptor numbered above stdio, so dup2() onto 0..2 in the child
// never meets itself.
int aboveStdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

bool makePipe(int &readEnd, int &writeEnd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    readEnd = aboveStdio(fds[0]);
    writeEnd = aboveStdio(fds[1]);
    if (readEnd < 0 || writeEnd < 0)
        return false;
    // Only our end is non-blocking: the script writes to an ordinary blocking pipe.
    fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK);
    return true;
}

void closeFd(int &fd)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
}

std::vector<char *> pointersTo(std::vector<QByteArray> &strings)
{
    std::vector<char *> pointers;
    pointers.reserve(strings.size() + 1);
    for (QByteArray &s : strings)
        pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers;
}

// Why an executable script could not be exec'ed although it exists: its #! line.
QString interpreterOf(const QString &file)
{
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray line = f.readLine(4096).trimmed();
    return line.startsWith("#!") ? QString::fromUtf8(line.mid(2).trimmed()) : QString();
}

// The ChildProcess leaders not reaped yet (their owners reap them through their pidfds),
// shared by the engine threads of the process: reapOrphans() leaves them alone.
struct Orphans
{
    std::mutex mutex;
    std::unordered_set<pid_t> leaders;
};

Orphans &orphans()
{
    static Orphans instance;
    return instance;
}

// Reaps, off the engine threads, what ChildProcess kills but cannot wait for: escaped
// processes killEscaped() did not see die within its wait (a loaded machine), and members
// of a killed group that die after their leader and so come to us as orphans. A thread of
// its own waits on the pidfds it is given, and for a few seconds after each kick() also
// sweeps every 100 ms, so no zombie of ours is left for good. Created on first use and
// never destroyed (it may still wait while the process exits). Any thread may call it.
class LateReaper
{
public:
    static LateReaper &instance()
    {
        static LateReaper *reaper = new LateReaper; // outlives static destruction
        return *reaper;
    }

    // Takes `pidfd` over: closed once its process has exited and been reaped.
    void add(int pidfd)
    {
        {
            const std::lock_guard lock(m_mutex);
            m_added.push_back(pidfd);
        }
        kick();
    }

    // Processes may be dying: sweep for a while.
    void kick()
    {
        m_sweepUntilNs.store(steadyNowNs() + SweepNs);
        const quint64 one = 1;
        while (write(m_wake, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

private:
    static constexpr qint64 SweepNs = qint64(5) * 1000000000;
    static constexpr int SweepEveryMs = 100;

    LateReaper()
    {
        m_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        std::thread([this] { run(); }).detach();
    }

    void run()
    {
        std::vector<pollfd> fds{pollfd{m_wake, POLLIN, 0}};
        while (true) {
            const bool sweeping = steadyNowNs() < m_sweepUntilNs.load();
            const int ready = poll(fds.data(), nfds_t(fds.size()), sweeping ? SweepEveryMs : -1);
            if (ready < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            if (fds[0].revents) {
                quint64 count;
                while (read(m_wake, &count, sizeof count) > 0) {
                }
                const std::lock_guard lock(m_mutex);
                for (int fd : m_added)
                    fds.push_back(pollfd{fd, POLLIN, 0});
                m_added.clear();
            }
            const auto died = std::remove_if(fds.begin() + 1, fds.end(), [](const pollfd &p) {
                if (!p.revents)
                    return false;
                close(p.fd);
                return true;
            });
            const bool someDied = died != fds.end();
            fds.erase(died, fds.end());
            // A pidfd turns readable a moment before its process is a zombie that
            // waitpid() can take: keep sweeping after every death, not only after a kick.
            if (someDied)
                m_sweepUntilNs.store(steadyNowNs() + SweepNs);
            if (someDied || ready == 0)
                ChildProcess::reapOrphans();
            for (pollfd &p : fds)
                p.revents = 0;
        }
    }

    int m_wake = -1;
    std::atomic<qint64> m_sweepUntilNs{0};
    std::mutex m_mutex;
    std::vector<int> m_added;
};

// Makes this process a child subreaper, once: orphans of our descendants come to us.
void becomeSubreaper()
{
    static const bool done = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
    Q_UNUSED(done);
}

std::atomic<quint64> nextScope{1};

} // namespace

QString ChildProcess::Exit::toString() const
{
    if (exited)
        return QStringLiteral("exit code %1").arg(code);
    const char *abbrev = sigabbrev_np(signal);
    QString text =
        QStringLiteral("killed by signal %1 (%2)")
            .arg(abbrev ? QStringLiteral("SIG") + QLatin1StringView(abbrev) : QStringLiteral("?"))
            .arg(signal);
    if (coreDumped)
        text += QStringLiteral(", core dumped");
    return text;
}

ChildProcess::~ChildProcess()
{
    if (m_pid > 0 && !(m_reaped && m_escapedKilled))
        killEscaped();
    if (m_pid > 0 && !m_reaped) {
        kill(-m_pid, SIGKILL);
        reap();
        LateReaper::instance().kick(); // the group's members die after it, orphaned to us
    }
    closeFd(m_pidFd);
    closeFd(m_stdout);
    closeFd(m_stderr);
}

QString ChildProcess::start(const Options &options)
{
    Q_ASSERT(m_pid < 0 && !options.command.isEmpty());
    const QString program = options.command.constFirst();
    const QString shown = options.command.join(u' ');
    QString path = program;
    if (!program.contains(u'/')) {
        path = QStandardPaths::findExecutable(program);
        if (path.isEmpty())
            return QStringLiteral("cannot run %1: %2 not found in PATH").arg(shown, program);
    }

    std::vector<QByteArray> argStrings;
    for (const QString &arg : options.command)
        argStrings.push_back(QFile::encodeName(arg));
    std::vector<char *> argv = pointersTo(argStrings);
    std::vector<QByteArray> shellStrings;
    std::vector<char *> shellArgv;
    if (options.command.size() == 1) {
        shellStrings = {QByteArrayLiteral("sh")};
        shellStrings.insert(shellStrings.end(), argStrings.begin(), argStrings.end());
        shellArgv = pointersTo(shellStrings);
    }

    becomeSubreaper();
    m_marker = "TASKDECK_SCOPE=" + QByteArray::number(getpid()) + '.' +
               QByteArray::number(nextScope.fetch_add(1));
    std::vector<QByteArray> added;
    for (const auto &[key, value] : options.environment)
        added.push_back(key + '=' + value);
    added.push_back(m_marker);
    std::vector<char *> envp;
    for (char **entry = environ; entry && *entry; ++entry) {
        bool replaced = false;
        for (const QByteArray &a : added) {
            const qsizetype eq = a.indexOf('=');
            if (strncmp(*entry, a.constData(), size_t(eq + 1)) == 0)
                replaced = true;
        }
        if (!replaced)
            envp.push_back(*entry);
    }
    for (QByteArray &a : added)
        envp.push_back(a.data());
    envp.push_back(nullptr);

    const QByteArray pathBytes = QFile::encodeName(path);
    const QByteArray directory = QFile::encodeName(options.workingDirectory);
    SpawnPlan plan;
    plan.path = pathBytes.constData();
    plan.argv = argv.data();
    plan.envp = envp.data();
    plan.shellPath = "/bin/sh";
    plan.shellArgv = shellArgv.empty() ? nullptr : shellArgv.data();
    plan.directory = directory.constData();
    plan.stdinFd = options.stdinFd;
    if (options.memoryBytes > 0) {
        rlimit current{};
        getrlimit(RLIMIT_AS, &current);
        rlim_t limit = rlim_t(options.memoryBytes);
        if (current.rlim_max != RLIM_INFINITY && current.rlim_max < limit)
            limit = current.rlim_max;
        plan.limitMemory = true;
        plan.memory = rlimit{limit, limit};
    }

    int outWrite = -1;
    int errWrite = -1;
    if (!makePipe(m_stdout, outWrite) || !makePipe(m_stderr, errWrite)) {
        const QString reason = QString::fromLocal8Bit(strerror(errno));
        closeFd(m_stdout);
        closeFd(m_stderr);
        closeFd(outWrite);
        closeFd(errWrite);
        return QStringLiteral("cannot run %1: cannot make a pipe: %2").arg(shown, reason);
    }
    plan.stdoutFd = outWrite;
    plan.stderrFd = errWrite;

    // CLONE_VFORK: this thread waits until the child has exec'ed or failed, on a stack
    // of its own carved from ours. Signals stay blocked across so that no handler of
    // ours runs in the child before it has reset them.
    alignas(64) char childStack[32 * 1024];
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidFd = -1;
    // The leader is known as one before any other thread's reapOrphans() can see it.
    std::unique_lock registry(orphans().mutex);
    const pid_t pid = clone(childMain, childStack + sizeof childStack,
                            CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &pidFd);
    const int cloneError = errno;
    if (pid > 0)
        orphans().leaders.insert(pid);
    registry.unlock();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(childStack, sizeof childStack); // the child's frames
#endif
    closeFd(outWrite);
    closeFd(errWrite);

    if (pid < 0) {
        closeFd(m_stdout);
        closeFd(m_stderr);
        return QStringLiteral("cannot run %1: cannot start a process: %2")
            .arg(shown, QString::fromLocal8Bit(strerror(cloneError)));
    }
    m_startedAtNs = steadyNowNs();
    if (plan.failedStep == int(Step::None)) {
        m_pid = pid;
        m_pidFd = pidFd;
        return {};
    }

    siginfo_t info;
    while (waitid(P_PIDFD, id_t(pidFd), &info, WEXITED) != 0 && errno == EINTR) {
    }
    close(pidFd);
    {
        const std::lock_guard lock(orphans().mutex);
        orphans().leaders.erase(pid);
    }
    closeFd(m_stdout);
    closeFd(m_stderr);
    const int error = plan.error;
    const QString reason = QString::fromLocal8Bit(strerror(error));
    switch (Step(plan.failedStep)) {
    case Step::Directory:
        return QStringLiteral("cannot run %1: cannot enter %2: %3")
            .arg(shown, options.workingDirectory, reason);
    case Step::MemoryLimit:
        return QStringLiteral("cannot run %1: cannot set the memory limit: %2").arg(shown, reason);
    case Step::Exec:
        if (error == ENOENT && options.command.size() == 1 && QFile::exists(path)) {
            const QString interpreter = interpreterOf(path);
            if (!interpreter.isEmpty())
                return QStringLiteral("cannot run %1: its #! interpreter %2 was not found")
                    .arg(shown, interpreter);
        }
        return QStringLiteral("cannot run %1: %2").arg(shown, reason);
    default:
        return QStringLiteral("cannot run %1: cannot set up the process: %2").arg(shown, reason);
    }
}

void ChildProcess::signalGroup(int sig)
{
    if (m_pid > 0 && !m_reaped)
        kill(-m_pid, sig);
}

std::optional<ChildProcess::Exit> ChildProcess::peekExit()
{
    if (m_pid <= 0 || m_reaped)
        return std::nullopt;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do {
        rc = waitid(P_PIDFD, id_t(m_pidFd), &info, WEXITED | WNOHANG | WNOWAIT);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 || info.si_pid == 0)
        return std::nullopt;
    Exit exit;
    exit.exited = info.si_code == CLD_EXITED;
    exit.code = exit.exited ? info.si_status : 0;
    exit.signal = exit.exited ? 0 : info.si_status;
    exit.coreDumped = info.si_code == CLD_DUMPED;
    return exit;
}

void ChildProcess::reap()
{
    if (m_pid <= 0 || m_reaped)
        return;
    siginfo_t info;
    while (waitid(P_PIDFD, id_t(m_pidFd), &info, WEXITED) != 0 && errno == EINTR) {
    }
    m_reaped = true;
    closeFd(m_pidFd);
    const std::lock_guard lock(orphans().mutex);
    orphans().leaders.erase(m_pid);
}

void ChildProcess::signalEscaped(int sig, const std::vector<pid_t> &signalled)
{
    if (m_pid <= 0)
        return;
    for (const ProcessTree::Process &p : ProcessTree::marked(m_marker))
        if (p.pgid != m_pid &&
            std::find(signalled.begin(), signalled.end(), p.pid) == signalled.end())
            kill(p.pid, sig);
}

// A few rounds, for processes forked while we were killing their parents. Waits (up to
// 200 ms a round) until the killed ones, and descendants caught exiting, have died, so
// that their zombies are ours to reap now rather than at some later call.
void ChildProcess::killEscaped()
{
    if (m_pid <= 0)
        return;
    m_escapedKilled = true;
    bool killed = false; // then some may die orphaned to us after this returns
    for (int round = 0; round < 4; ++round) {
        std::vector<pid_t> exiting; // marked or not: we cannot tell any more
        const std::vector<ProcessTree::Process> found = ProcessTree::marked(m_marker, &exiting);
        std::vector<pollfd> dying;
        if (round > 0)
            exiting.clear(); // waited for once: not a reason to go on
        for (const pid_t pid : exiting)
            if (const int fd = int(syscall(SYS_pidfd_open, pid, 0)); fd >= 0)
                dying.push_back(pollfd{fd, POLLIN, 0});
        if (found.empty() && dying.empty())
            break;
        killed = killed || !found.empty();
        for (const ProcessTree::Process &p : found) {
            if (p.pid == m_pid) {
                if (!m_reaped)
                    kill(p.pid, SIGKILL); // its zombie stays until reap()
                continue;
            }
            const int fd = int(syscall(SYS_pidfd_open, p.pid, 0));
            kill(p.pid, SIGKILL);
            if (fd >= 0)
                dying.push_back(pollfd{fd, POLLIN, 0});
        }
        const qint64 until = steadyNowNs() + 200000000;
        for (pollfd &d : dying) {
            while (poll(&d, 1, int(qMax<qint64>(0, (until - steadyNowNs()) / 1000000))) < 0 &&
                   errno == EINTR) {
            }
            if (d.revents)
                close(d.fd);
            else
                LateReaper::instance().add(d.fd); // dies later: reaped then
        }
    }
    reapOrphans();
    if (killed)
        LateReaper::instance().kick(); // what it killed may die orphaned to us after this
}

// Reaps our zombie children outside our process group or session: orphans from the
// groups of ChildProcesses (every leader has a group of its own) and processes that
// escaped them. Never a ChildProcess leader (its owner reaps it through its pidfd), never
// a child that stayed in our group (a QProcess's, whose exit Qt reads).
void ChildProcess::reapOrphans()
{
    const pid_t ourGroup = getpgrp();
    const pid_t ourSession = getsid(0);
    const std::lock_guard lock(orphans().mutex);
    for (const ProcessTree::Process &p : ProcessTree::zombieChildren())
        if ((p.pgid != ourGroup || p.sid != ourSession) && !orphans().leaders.contains(p.pid))
            waitpid(p.pid, nullptr, WNOHANG);
}

void ChildProcess::closeStdout()
{
    closeFd(m_stdout);
}

void ChildProcess::closeStderr()
{
    closeFd(m_stderr);
}
