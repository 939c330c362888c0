#include "processtree.h"

#include <QDateTime>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace {

// Reads a small /proc file into `buffer`; returns its length or -1.
qsizetype readProcFile(const char *path, char *buffer, size_t size)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    const ssize_t n = read(fd, buffer, size);
    close(fd);
    return n;
}

bool readStat(pid_t pid, ProcessTree::Process &process)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
    char buffer[1024];
    const qsizetype n = readProcFile(path, buffer, sizeof buffer - 1);
    if (n <= 0)
        return false;
    buffer[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const char *open = strchr(buffer, '(');
    const char *close = strrchr(buffer, ')');
    if (!open || !close || close < open || close[1] != ' ')
        return false;
    process.pid = pid;
    process.name = QByteArray(open + 1, close - open - 1);
    const char *field = close + 2; // field 3, the state
    process.state = *field;
    for (int index = 3; index <= 24 && *field; ++index) {
        if (index == 4)
            process.ppid = pid_t(strtol(field, nullptr, 10));
        else if (index == 5)
            process.pgid = pid_t(strtol(field, nullptr, 10));
        else if (index == 6)
            process.sid = pid_t(strtol(field, nullptr, 10));
        else if (index == 14 || index == 15) // utime, stime
            process.cpuTicks += strtoll(field, nullptr, 10);
        else if (index == 22)
            process.startTicks = strtoll(field, nullptr, 10);
        else if (index == 24)
            process.rssPages = strtoll(field, nullptr, 10);
        field = strchr(field, ' ');
        if (!field)
            break;
        ++field;
    }
    return true;
}

// Every process, or only those `keep` accepts, with its stat read.
template <typename Keep> std::vector<ProcessTree::Process> allProcesses(Keep keep)
{
    std::vector<ProcessTree::Process> all;
    DIR *dir = opendir("/proc");
    if (!dir)
        return all;
    while (const dirent *entry = readdir(dir)) {
        char *end = nullptr;
        const long pid = strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0')
            continue;
        ProcessTree::Process process;
        if (readStat(pid_t(pid), process) && keep(process))
            all.push_back(std::move(process));
    }
    closedir(dir);
    return all;
}

bool isGone(char state)
{
    return state == 'Z' || state == 'X' || state == 'x';
}

enum class Entry { Absent, Present, Unreadable };

// Whether /proc/PID/environ (the environment the process was exec'ed with) holds the
// whole entry `marker`; Unreadable when it reads empty: the process is exiting (its
// memory is gone, its zombie not there yet).
Entry environmentEntry(pid_t pid, const QByteArray &marker)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", int(pid));
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Entry::Absent; // not ours to read (setuid): none of our markers either
    QByteArray environment;
    char buffer[16 * 1024];
    for (;;) {
        const ssize_t n = read(fd, buffer, sizeof buffer);
        if (n <= 0 || environment.size() > 4 * 1024 * 1024)
            break;
        environment.append(buffer, n);
    }
    close(fd);
    if (environment.isEmpty())
        return Entry::Unreadable;
    for (qsizetype at = environment.indexOf(marker); at >= 0;
         at = environment.indexOf(marker, at + 1)) {
        const qsizetype end = at + marker.size();
        if ((at == 0 || environment.at(at - 1) == '\0') &&
            (end == environment.size() || environment.at(end) == '\0'))
            return Entry::Present;
    }
    return Entry::Absent;
}

QString commandLine(const ProcessTree::Process &process)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", int(process.pid));
    char buffer[4096];
    const qsizetype n = readProcFile(path, buffer, sizeof buffer);
    if (n <= 0)
        return QStringLiteral("[%1]").arg(QString::fromLocal8Bit(process.name));
    QByteArray line(buffer, n);
    while (line.endsWith('\0'))
        line.chop(1);
    line.replace('\0', ' ');
    return QString::fromLocal8Bit(line);
}

} // namespace

ProcessTree ProcessTree::read(pid_t leader, pid_t pgid)
{
    ProcessTree tree;
    tree.m_leader = leader;
    tree.m_pgid = pgid;
    const std::vector<Process> all = allProcesses([](const Process &) { return true; });
    std::unordered_multimap<pid_t, const Process *> children;
    const Process *leaderProcess = nullptr;
    for (const Process &p : all) {
        children.emplace(p.ppid, &p);
        if (p.pid == leader)
            leaderProcess = &p;
    }
    std::unordered_map<pid_t, bool> taken;
    std::vector<const Process *> stack;
    if (leaderProcess)
        stack.push_back(leaderProcess);
    for (const Process &p : all)
        if (p.pgid == pgid && p.pid != leader)
            stack.push_back(&p);
    // The leader, its descendants, then each group member with its own descendants.
    for (size_t i = 0; i < stack.size(); ++i) {
        const Process *p = stack[i];
        if (!taken.emplace(p->pid, true).second)
            continue;
        tree.m_processes.push_back(*p);
        const auto [first, last] = children.equal_range(p->pid);
        for (auto it = first; it != last; ++it)
            stack.push_back(it->second);
    }
    return tree;
}

namespace {

// Appends the children of `pid` (of all its threads) as /proc/PID/task/TID/children lists
// them; false when there is no such file (a kernel without CONFIG_PROC_CHILDREN).
bool appendChildren(pid_t pid, std::vector<pid_t> &out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", int(pid));
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    bool found = false;
    while (const dirent *entry = readdir(dir)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
            continue;
        char file[320];
        snprintf(file, sizeof file, "/proc/%d/task/%s/children", int(pid), entry->d_name);
        const int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        found = true;
        QByteArray text;
        char buffer[4096];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof buffer)) > 0)
            text.append(buffer, n);
        close(fd);
        for (const QByteArray &word : text.split(' '))
            if (const long child = strtol(word.constData(), nullptr, 10); child > 0)
                out.push_back(pid_t(child));
    }
    closedir(dir);
    return found;
}

} // namespace

// Walks down from this process through the children files: a handful of reads when we
// have few descendants, however many processes the machine runs. Without those files,
// one pass over every process in /proc.
std::vector<ProcessTree::Process> ProcessTree::marked(const QByteArray &marker,
                                                      std::vector<pid_t> *exiting)
{
    auto consider = [&](const Process &process, std::vector<Process> &found) {
        if (isGone(process.state))
            return;
        const Entry entry = environmentEntry(process.pid, marker);
        if (entry == Entry::Present)
            found.push_back(process);
        else if (entry == Entry::Unreadable && exiting)
            exiting->push_back(process.pid);
    };
    const pid_t self = getpid();
    std::vector<pid_t> pending;
    if (appendChildren(self, pending)) {
        std::vector<Process> found;
        for (int visited = 0; !pending.empty() && visited < 100000; ++visited) {
            const pid_t pid = pending.back();
            pending.pop_back();
            Process process;
            if (!readStat(pid, process))
                continue;
            appendChildren(pid, pending);
            consider(process, found);
        }
        return found;
    }
    const std::vector<Process> all = allProcesses([](const Process &) { return true; });
    std::unordered_map<pid_t, std::vector<size_t>> children;
    for (size_t i = 0; i < all.size(); ++i)
        children[all[i].ppid].push_back(i);
    std::vector<Process> found;
    std::vector<pid_t> parents{self};
    while (!parents.empty()) {
        const pid_t parent = parents.back();
        parents.pop_back();
        const auto it = children.find(parent);
        if (it == children.end())
            continue;
        for (const size_t i : it->second) {
            const Process &process = all[i];
            parents.push_back(process.pid);
            consider(process, found);
        }
    }
    return found;
}

std::vector<ProcessTree::Process> ProcessTree::zombieChildren()
{
    const pid_t self = getpid();
    std::vector<pid_t> children;
    if (appendChildren(self, children)) {
        std::vector<Process> zombies;
        for (const pid_t pid : children) {
            Process process;
            if (readStat(pid, process) && process.state == 'Z')
                zombies.push_back(process);
        }
        return zombies;
    }
    return allProcesses([self](const Process &p) { return p.ppid == self && p.state == 'Z'; });
}

bool ProcessTree::groupHasLiveMembers(pid_t pgid)
{
    return !allProcesses([pgid](const Process &p) {
                return p.pgid == pgid && !isGone(p.state);
            }).empty();
}

std::vector<pid_t> ProcessTree::outsideGroup() const
{
    std::vector<pid_t> pids;
    for (const Process &p : m_processes)
        if (p.pgid != m_pgid && !isGone(p.state))
            pids.push_back(p.pid);
    return pids;
}

std::shared_ptr<const StackNode> ProcessTree::toStack(const QStringList &leaderCommand) const
{
    timespec boot{};
    clock_gettime(CLOCK_BOOTTIME, &boot);
    const qint64 bootNowMs = qint64(boot.tv_sec) * 1000 + boot.tv_nsec / 1000000;
    const qint64 epochNowMs = QDateTime::currentMSecsSinceEpoch();
    const qint64 ticksPerSecond = qMax<long>(1, sysconf(_SC_CLK_TCK));
    const qint64 pageSize = qMax<long>(1, sysconf(_SC_PAGESIZE));

    auto node = [&](const Process &p) {
        const qint64 ageMs = qMax<qint64>(0, bootNowMs - p.startTicks * 1000 / ticksPerSecond);
        StackNode s;
        s.kind = StackNode::Kind::Process;
        ProcessInfo &info = s.process;
        info.pid = p.pid;
        info.commandLine =
            p.pid == m_leader && p.state == 'Z' ? leaderCommand.join(u' ') : commandLine(p);
        info.name = QString::fromLocal8Bit(p.name);
        info.state = p.state;
        info.cpuSeconds = double(p.cpuTicks) / double(ticksPerSecond);
        if (!isGone(p.state))
            info.rssBytes = p.rssPages * pageSize;
        info.startedAtMs = epochNowMs - ageMs;
        info.runningMs = ageMs;
        return s;
    };

    std::unordered_map<pid_t, const Process *> byPid;
    std::unordered_multimap<pid_t, const Process *> children;
    for (const Process &p : m_processes) {
        byPid.emplace(p.pid, &p);
        children.emplace(p.ppid, &p);
    }
    std::function<StackNode(const Process &)> build = [&](const Process &p) {
        StackNode s = node(p);
        std::vector<const Process *> kids;
        const auto [first, last] = children.equal_range(p.pid);
        for (auto it = first; it != last; ++it)
            kids.push_back(it->second);
        std::sort(kids.begin(), kids.end(),
                  [](const Process *a, const Process *b) { return a->pid < b->pid; });
        for (const Process *kid : kids)
            s.children.append(build(*kid));
        return s;
    };

    auto root = std::make_shared<StackNode>();
    if (const auto it = byPid.find(m_leader); it != byPid.end()) {
        *root = build(*it->second);
    } else {
        // The leader has exited and been reaped; what is shown is what it left behind.
        root->kind = StackNode::Kind::Process;
        root->process.pid = m_leader;
        root->process.commandLine = leaderCommand.join(u' ');
        root->process.exited = true;
    }
    // Processes whose parent is not in the tree (reparented after their parent exited)
    // hang under the leader.
    for (const Process &p : m_processes)
        if (p.pid != m_leader && !byPid.contains(p.ppid))
            root->children.append(build(p));
    return root;
}
