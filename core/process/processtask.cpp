#include "processtask.h"

#include "processtree.h"

#include <QFileInfo>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <unistd.h>

namespace {

// Per stream and wake-up, so one flooding task cannot hold the engine thread for long,
// and a batch of lines handed to runLog() stays small even when the lines are tiny.
constexpr qsizetype ReadBudget = 64 * 1024;
// What is still in the pipes when the run ends is read up to this much.
constexpr qsizetype FinalReadBudget = 4 * 1024 * 1024;
// After SIGKILL, how often and how long to look for the group's last processes.
constexpr qint64 FirstGroupPollNs = 1000000;
constexpr qint64 MaxGroupPollNs = 50000000;
constexpr qint64 GroupGiveUpNs = qint64(10) * 1000000000;

} // namespace

ProcessTask::ProcessTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int,
                         const RunServices &services)
    : m_id(id)
    , m_spec(std::move(spec))
    , m_services(services)
{
}

ProcessTask::~ProcessTask()
{
    m_services.timers.cancel(m_groupTimer);
    if (m_reactor && m_client)
        m_reactor->removeClient(m_client);
    // m_child kills the group and reaps the leader if the run was still going (the
    // engine stopping without waiting): nothing is left behind, not even a zombie.
}

void ProcessTask::start()
{
    m_reactor = ProcessReactor::forThisThread();
    if (!m_reactor)
        return fail(QStringLiteral("cannot watch child processes (epoll unavailable)"));
    if (m_spec->command.isEmpty())
        return fail(QStringLiteral("%1: no command to run it with").arg(m_spec->file));

    ChildProcess::Options options;
    options.command = m_spec->command;
    options.workingDirectory = QFileInfo(m_spec->file).absolutePath();
    for (const auto &[key, value] : m_spec->args)
        options.environment.append({"TASKDECK_ARG_" + key.toUpper().toUtf8(), value.toUtf8()});
    options.memoryBytes = m_spec->memoryBytes;
    options.stdinFd = m_reactor->devNull();
    const QString error = m_child.start(options);
    if (!error.isEmpty())
        return fail(error);

    m_client = m_reactor->addClient(this);
    if (!m_reactor->watch(m_client, m_child.stdoutFd(), StdoutTag) ||
        !m_reactor->watch(m_client, m_child.stderrFd(), StderrTag) ||
        !m_reactor->watch(m_client, m_child.pidFd(), PidTag)) {
        const int watchError = errno; // m_child's destructor kills and reaps it
        m_child.signalGroup(SIGKILL);
        return fail(QStringLiteral("cannot watch the process: %1")
                        .arg(QString::fromLocal8Bit(strerror(watchError))));
    }
}

// ---- output ----

void ProcessTask::fdReady(int tag, quint32)
{
    if (m_finished)
        return;
    if (tag == PidTag)
        leaderExited();
    else
        readOutput(Tag(tag), ReadBudget);
}

void ProcessTask::wakeDone()
{
    if (!m_finished)
        flushLog();
}

// Reads what `tag`'s pipe holds, up to `budget` bytes, into m_newLines; closes the pipe
// at its end. Never blocks: the pipe is non-blocking and epoll is level-triggered, so
// whatever is left is reported again at the next wake-up.
void ProcessTask::readOutput(Tag tag, qsizetype budget)
{
    const int fd = tag == StdoutTag ? m_child.stdoutFd() : m_child.stderrFd();
    LineSplitter &splitter = tag == StdoutTag ? m_stdoutLines : m_stderrLines;
    char buffer[64 * 1024];
    while (fd >= 0 && budget > 0) {
        const ssize_t n = ::read(fd, buffer, size_t(qMin<qsizetype>(budget, sizeof buffer)));
        if (n > 0) {
            const qsizetype first = m_newLines.size();
            splitter.feed(buffer, n, m_newLines);
            if (tag == StderrTag)
                keepStderrTail(first);
            budget -= n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else { // the end of the stream (or an error, treated alike)
            closeOutput(tag);
            return;
        }
    }
}

void ProcessTask::closeOutput(Tag tag)
{
    const int fd = tag == StdoutTag ? m_child.stdoutFd() : m_child.stderrFd();
    if (fd < 0)
        return;
    const qsizetype first = m_newLines.size();
    if (tag == StdoutTag) {
        m_stdoutLines.finish(m_newLines);
    } else {
        m_stderrLines.finish(m_newLines);
        keepStderrTail(first);
    }
    m_reactor->unwatch(fd);
    if (tag == StdoutTag)
        m_child.closeStdout();
    else
        m_child.closeStderr();
}

void ProcessTask::keepStderrTail(qsizetype firstNewLine)
{
    for (qsizetype i = qMax(firstNewLine, m_newLines.size() - StderrTailLines);
         i < m_newLines.size(); ++i) {
        m_stderrTail.push_back(m_newLines.at(i).left(StderrTailChars));
        if (m_stderrTail.size() > size_t(StderrTailLines))
            m_stderrTail.pop_front();
    }
}

void ProcessTask::flushLog()
{
    if (!m_newLines.isEmpty())
        m_services.observer.runLog(m_id, std::exchange(m_newLines, QStringList()));
}

// ---- the end of the run ----

// The leader's pidfd is readable: it has exited. Its zombie still holds the group id,
// so the group can be killed safely before the leader is reaped.
void ProcessTask::leaderExited()
{
    if (m_exit)
        return;
    m_exit = m_child.peekExit();
    if (!m_exit)
        return;
    if (!m_cancelled && !m_stopped && !m_exit->succeeded())
        m_lastStack = ProcessTree::read(m_child.pid(), m_child.pid()).toStack(m_spec->command);
    m_child.signalGroup(SIGKILL);
    m_child.killEscaped(); // those that left the group, orphaned or not
    m_reactor->unwatch(m_child.pidFd());
    m_child.reap();
    m_groupWaitStartNs = steadyNowNs();
    m_groupPollNs = FirstGroupPollNs;
    checkGroup();
}

// Finishes once nothing but zombies is left in the leader's group (those are for init
// to reap, and hold nothing); until then looks again on a short timer.
void ProcessTask::checkGroup()
{
    const pid_t pgid = m_child.pid();
    const bool empty = kill(-pgid, 0) != 0 && errno == ESRCH; // the usual case: no /proc walk
    if (empty || !ProcessTree::groupHasLiveMembers(pgid))
        return finish();
    if (steadyNowNs() - m_groupWaitStartNs > GroupGiveUpNs) {
        m_newLines.append(QStringLiteral("[taskdeck: processes of group %1 are still alive "
                                         "10 s after SIGKILL; no longer waiting for them]")
                              .arg(pgid));
        return finish();
    }
    m_groupTimer = m_services.timers.add(steadyNowNs() + m_groupPollNs, [this] {
        m_groupTimer = 0;
        checkGroup();
    });
    m_groupPollNs = qMin(m_groupPollNs * 2, MaxGroupPollNs);
}

void ProcessTask::finish()
{
    // Output still in the pipes (the group is dead, so it is bounded by what the pipes
    // hold, unless an escaped process still writes: hence the budget).
    readOutput(StdoutTag, FinalReadBudget);
    readOutput(StderrTag, FinalReadBudget);
    closeOutput(StdoutTag);
    closeOutput(StderrTag);
    flushLog();
    m_reactor->removeClient(std::exchange(m_client, 0));
    ChildProcess::reapOrphans(); // the group's last members, orphaned to us as they died

    RunOutcome outcome;
    if (m_cancelled || m_stopped) {
        outcome.kind = RunOutcome::Cancelled;
        outcome.error = m_stopped && !m_cancelled ? QStringLiteral("stopped: ") + m_exit->toString()
                                                  : QStringLiteral("cancelled");
        outcome.stack = m_lastStack;
    } else if (m_exit->succeeded()) {
        outcome.kind = RunOutcome::Succeeded;
    } else {
        outcome.kind = RunOutcome::Failed;
        outcome.error = m_exit->toString();
        // The last lines of stderr, within StderrTailChars.
        qsizetype chars = 0;
        auto from = m_stderrTail.end();
        while (from != m_stderrTail.begin() && chars + (from - 1)->size() <= StderrTailChars) {
            --from;
            chars += from->size() + 1;
        }
        for (auto it = from; it != m_stderrTail.end(); ++it)
            outcome.error += u'\n' + *it;
        outcome.stack = m_lastStack;
    }
    m_finished = true;
    m_services.observer.runFinished(m_id, std::move(outcome)); // may delete us later
}

void ProcessTask::fail(const QString &error)
{
    m_finished = true;
    RunOutcome outcome;
    outcome.kind = RunOutcome::Failed;
    outcome.error = error;
    m_services.observer.runFinished(m_id, std::move(outcome));
}

// ---- cancel and stop ----

// Sends `sig` to the group, and to descendants that left it (read from /proc now).
void ProcessTask::signalTree(int sig)
{
    const ProcessTree tree = ProcessTree::read(m_child.pid(), m_child.pid());
    if (!m_lastStack)
        m_lastStack = tree.toStack(m_spec->command);
    m_child.signalGroup(sig);
    for (const pid_t pid : tree.outsideGroup())
        kill(pid, sig);
    const std::vector<pid_t> outside = tree.outsideGroup();
    m_child.signalEscaped(sig, outside); // also those orphaned after leaving the group
    // A stopped process (^Z, SIGSTOP) only acts on SIGTERM once continued.
    if (sig == SIGTERM) {
        m_child.signalGroup(SIGCONT);
        for (const pid_t pid : tree.outsideGroup())
            kill(pid, SIGCONT);
        m_child.signalEscaped(SIGCONT, outside);
    }
}

void ProcessTask::cancel()
{
    if (m_finished || m_cancelled)
        return;
    m_cancelled = true;
    if (!m_exit)
        signalTree(SIGTERM);
}

void ProcessTask::stop()
{
    if (m_finished)
        return;
    m_stopped = true;
    if (!m_exit)
        signalTree(SIGKILL);
}

std::shared_ptr<const CoroutineStack> ProcessTask::liveStack() const
{
    if (m_finished || !m_child.isStarted() || m_child.isReaped())
        return m_lastStack;
    return ProcessTree::read(m_child.pid(), m_child.pid()).toStack(m_spec->command);
}
