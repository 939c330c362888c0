// Process tasks (SPEC section 3) run through a real Engine: exit codes and signals,
// stderr in the error, cancel and timeout of the whole process group, grandchildren,
// bounded memory under an output flood, environment, working directory, @memory, and
// the files ScriptLoader refuses to run.
#include "testsupport.h"

#include "logbuffer.h"
#include "process/linesplitter.h"
#include "taskjson.h"

#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTest>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace {

bool hasState(const Engine &engine, TaskId id, TaskState state)
{
    return stateOf(engine, id) == state;
}

// A pid written by a script, or 0 while the file is not complete.
pid_t pidIn(const QString &file)
{
    const QStringList lines = readLines(file);
    return lines.isEmpty() ? 0 : pid_t(lines.constFirst().toInt());
}

// Alive and not a zombie: a killed grandchild is reparented to init, which may take a
// while to reap it (or never, in a container), but a zombie holds nothing.
bool isAlive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return false;
    const QByteArray text = stat.readAll();
    const qsizetype close = text.lastIndexOf(')');
    return close < 0 || close + 2 >= text.size() || text.at(close + 2) != 'Z';
}

// Processes whose command line is exactly `argv`, as pid -> state ('Z' for a zombie).
QHash<pid_t, char> processesRunning(const QList<QByteArray> &argv)
{
    const QByteArray wanted = argv.join('\0') + '\0';
    QHash<pid_t, char> found;
    const QStringList entries = QDir(QStringLiteral("/proc")).entryList(QDir::Dirs);
    for (const QString &entry : entries) {
        bool ok = false;
        const pid_t pid = pid_t(entry.toInt(&ok));
        if (!ok)
            continue;
        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(pid));
        QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
        if (!stat.open(QIODevice::ReadOnly))
            continue;
        const QByteArray text = stat.readAll();
        const qsizetype close = text.lastIndexOf(')');
        const char state = close > 0 && close + 2 < text.size() ? text.at(close + 2) : '?';
        // A zombie has no command line left: known by its name and its parent (us).
        const bool ours = cmdline.open(QIODevice::ReadOnly) && cmdline.readAll() == wanted;
        if (ours)
            found.insert(pid, state);
        else if (state == 'Z' && text.contains("(sleep) Z " + QByteArray::number(getpid()) + ' '))
            found.insert(pid, state);
    }
    return found;
}

// A `sleep` no other test runs, and the way to find it.
struct Escapee
{
    QByteArray seconds = "301." + QByteArray::number(getpid()) + QByteArray::number(++count);
    QList<QByteArray> argv() const { return {"sleep", seconds}; }
    int alive() const
    {
        int n = 0;
        for (char state : processesRunning(argv()))
            n += state != 'Z';
        return n;
    }
    // Zombie sleeps of this process (ours: nobody else reaps them).
    int zombies() const
    {
        int n = 0;
        for (char state : processesRunning(argv()))
            n += state == 'Z';
        return n;
    }
    ~Escapee() // never leave one behind, whatever the test found
    {
        for (pid_t pid : processesRunning(argv()).keys())
            kill(pid, SIGKILL);
    }
    static inline int count = 0;
};

// Task `id` ends as `state` (cancelled first if that is Cancelled, once `escapee` runs);
// `escapee` must then be dead and reaped.
void verifyEscapeeEndsWithTask(Engine &engine, TaskId id, TaskState state, const Escapee &escapee)
{
    if (state == TaskState::Cancelled) {
        QTRY_COMPARE_WITH_TIMEOUT(escapee.alive(), 1, 10000);
        engine.cancel(id);
    }
    QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, state), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(escapee.alive(), 0, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(escapee.zombies(), 0, 10000);
}

// This process's peak resident set, in KiB, from /proc/self/status.
qint64 peakRssKiB()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n'))
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').constFirst().toLongLong();
    return -1;
}

// Makes VmHWM start again from the current RSS (Linux >= 4.0).
bool resetPeakRss()
{
    const int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    const bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

bool allSucceeded(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (stateOf(engine, id) != TaskState::Succeeded)
            return false;
    return true;
}

// Every process of a stack tree, flattened.
void collect(const CoroutineStack &stack, QList<const CoroutineStack *> &all)
{
    all.append(&stack);
    for (const CoroutineStack &child : stack.children)
        collect(child, all);
}

} // namespace

class tst_ProcessTask : public QObject
{
    Q_OBJECT

private:
    static Engine::Options options(qint64 gracePeriodMs = 5000)
    {
        Engine::Options o;
        o.maxRunning = 8;
        o.gracePeriodMs = gracePeriodMs;
        o.publishIntervalMs = 20;
        return o;
    }

private Q_SLOTS:
    void exitZeroSucceedsWithOutputInTheLog()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(dir.spec("ok.sh", "echo hello\necho 'to stderr' >&2\n"
                                                          "printf 'no newline at the end'\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 5000);
        const TaskSnapshot task = *engine.task(id);
        QVERIFY(task.error.isEmpty());
        QVERIFY(task.result.isNull());
        QVERIFY(!task.stack);
        const QStringList log = engine.log(id);
        QVERIFY2(log.contains("hello"), qPrintable(log.join('|')));
        QVERIFY(log.contains("to stderr"));
        QVERIFY(log.contains("no newline at the end"));
    }

    void nonZeroExitFailsWithCodeAndStderrTail()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(dir.spec(
            "fail.sh", "i=1\nwhile [ $i -le 50 ]; do echo \"problem $i\" >&2; i=$((i+1)); done\n"
                       "echo 'stdout is not in the error'\nexit 3\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Failed), 5000);
        const TaskSnapshot task = *engine.task(id);
        const QStringList lines = task.error.split(u'\n');
        QCOMPARE(lines.constFirst(), QStringLiteral("exit code 3"));
        QCOMPARE(lines.constLast(), QStringLiteral("problem 50"));
        QVERIFY2(lines.size() <= 1 + 20, qPrintable(task.error)); // the tail, not all of it
        QVERIFY(!lines.contains("problem 1"));
        QVERIFY(!task.error.contains("stdout"));
        QCOMPARE(engine.log(id).size(), 51); // the log has everything
    }

    void stderrTailIsBoundedInCharacters()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(dir.spec(
            "long.sh", "head -c 100000 /dev/zero | tr '\\0' e >&2\necho >&2\necho last >&2\n"
                       "exit 1\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Failed), 5000);
        const QString error = engine.task(id)->error;
        QVERIFY(error.startsWith("exit code 1\n"));
        QVERIFY(error.endsWith("\nlast"));
        QVERIFY2(error.size() < 2200, qPrintable(QString::number(error.size())));
    }

    void deathBySignalNamesTheSignal_data()
    {
        QTest::addColumn<QString>("signal");
        QTest::addColumn<QString>("expected");
        QTest::newRow("KILL") << "KILL"
                              << "killed by signal SIGKILL (9)";
        QTest::newRow("TERM") << "TERM"
                              << "killed by signal SIGTERM (15)";
        QTest::newRow("USR1") << "USR1"
                              << "killed by signal SIGUSR1 (10)";
    }
    void deathBySignalNamesTheSignal()
    {
        QFETCH(QString, signal);
        QFETCH(QString, expected);
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(dir.spec(
            "sig.sh",
            QStringLiteral("echo dying >&2\nkill -%1 $$\nsleep 100\n").arg(signal).toUtf8()));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Failed), 5000);
        QCOMPARE(engine.task(id)->error, expected + "\ndying");
    }

    void timeoutSendsSigtermToTheGroup()
    {
        ScriptDir dir;
        Engine engine(options(60000)); // a long grace period: SIGTERM alone must do it
        const QString pidFile = dir.path() + "/sleep.pid";
        QElapsedTimer clock;
        clock.start();
        const TaskId id = engine.submit(
            dir.spec("slow.sh", "# @timeout 300ms\nsleep 100 &\necho $! > sleep.pid\nwait\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::TimedOut), 10000);
        QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
        const TaskSnapshot task = *engine.task(id);
        QCOMPARE(task.error, QStringLiteral("timed out after 300ms"));
        QVERIFY(!isAlive(pidIn(pidFile)));
        // The stack is the process tree as it was when the timeout struck.
        QVERIFY(task.stack);
        QList<const CoroutineStack *> all;
        collect(*task.stack, all);
        QCOMPARE(all.size(), 2);
        QVERIFY(all[0]->isProcess() && all[1]->isProcess());
        QCOMPARE(all[0]->process.commandLine, "sh " + dir.path() + "/slow.sh");
        QCOMPARE(all[1]->process.pid, qint64(pidIn(pidFile)));
        QCOMPARE(all[1]->process.commandLine, QStringLiteral("sleep 100"));
    }

    void scriptIgnoringSigtermIsKilledAfterTheGracePeriod()
    {
        ScriptDir dir;
        Engine engine(options(300));
        const QString ready = dir.path() + "/ready";
        const TaskId id = engine.submit(dir.spec(
            "stubborn.sh", "trap '' TERM\nsleep 100 &\necho $! > sleep.pid\necho $$ > ready\n"
                           "wait\n"));
        QTRY_VERIFY_WITH_TIMEOUT(pidIn(ready) > 0, 5000);
        const pid_t shell = pidIn(ready);
        const pid_t sleeper = pidIn(dir.path() + "/sleep.pid");
        QElapsedTimer clock;
        clock.start();
        engine.cancel(id);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Cancelled), 5000);
        QVERIFY2(clock.elapsed() >= 250, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(engine.task(id)->error, QStringLiteral("cancelled"));
        QVERIFY(!isAlive(shell));
        QVERIFY(!isAlive(sleeper));
    }

    void cancellingAStoppedScriptContinuesItToDeliverSigterm()
    {
        ScriptDir dir;
        Engine engine(options(60000));
        const TaskId id =
            engine.submit(dir.spec("stopped.sh", "echo $$ > ready\nkill -STOP $$\nsleep 100\n"));
        QTRY_VERIFY_WITH_TIMEOUT(pidIn(dir.path() + "/ready") > 0, 5000);
        const QString stat = QStringLiteral("/proc/%1/stat").arg(pidIn(dir.path() + "/ready"));
        auto isStopped = [&] {
            QFile file(stat);
            return file.open(QIODevice::ReadOnly) && file.readAll().contains(") T ");
        };
        QTRY_VERIFY_WITH_TIMEOUT(isStopped(), 5000);
        engine.cancel(id);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Cancelled), 5000);
    }

    void grandchildrenDieWhenTheScriptExits()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id =
            engine.submit(dir.spec("leaves.sh", "sleep 100 &\necho $! > gc.pid\nexit 0\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 5000);
        // Checked at once: the run does not end before the group is gone.
        const pid_t grandchild = pidIn(dir.path() + "/gc.pid");
        QVERIFY(grandchild > 0);
        QVERIFY(!isAlive(grandchild));
    }

    void grandchildrenDieWhenTheTaskIsCancelled()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(dir.spec(
            "tree.sh", "sh -c 'sleep 100 & echo $! > gc.pid; wait' &\necho ok > ready\nwait\n"));
        QTRY_VERIFY_WITH_TIMEOUT(
            QFile::exists(dir.path() + "/ready") && pidIn(dir.path() + "/gc.pid") > 0, 5000);
        // The live stack shows the tree: the script, its sh -c, and that one's sleep
        // (once the forked shell has exec'ed sleep).
        const pid_t grandchild = pidIn(dir.path() + "/gc.pid");
        auto treeIsShown = [&] {
            const auto stack = engine.liveStack(id);
            if (!stack)
                return false;
            QList<const CoroutineStack *> all;
            collect(*stack, all);
            if (all.size() != 3 || !all[2]->isProcess())
                return false;
            const ProcessInfo &p = all[2]->process;
            return p.pid == grandchild && p.commandLine == u"sleep 100" && p.name == u"sleep" &&
                   p.state == 'S' && p.stateText() == u"sleeping" && p.startedAtMs > 0 &&
                   p.cpuSeconds >= 0 && !p.exited && all[2]->frames.isEmpty() &&
                   p.summary().startsWith(QStringLiteral("pid %1 sleep, running ").arg(grandchild));
        };
        QTRY_VERIFY_WITH_TIMEOUT(treeIsShown(), 5000);

        engine.cancel(id);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Cancelled), 5000);
        QVERIFY(!isAlive(pidIn(dir.path() + "/gc.pid")));
        QVERIFY(engine.task(id)->stack);
    }

    // `( setsid sleep 301 & )` left its group and was orphaned: it outlived the task.
    // A process node has its own fields: pid, command line, name, state, CPU time (here
    // a shell loop's, growing), start and age; no frame or `awaiting` of a coroutine.
    void processNodesCarryPidCommandLineAndCpuTime()
    {
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(
            dir.spec("busy.sh", "echo $$ > ready\ni=0\nwhile :; do i=$((i+1)); done\n"));
        QTRY_VERIFY_WITH_TIMEOUT(pidIn(dir.path() + "/ready") > 0, 5000);
        const pid_t shell = pidIn(dir.path() + "/ready");
        auto root = [&] {
            const auto stack = engine.liveStack(id);
            return stack && stack->isProcess() ? stack->process : ProcessInfo();
        };
        QTRY_VERIFY_WITH_TIMEOUT(root().cpuSeconds >= 0.2, 30000);
        const ProcessInfo p = root();
        QCOMPARE(p.pid, qint64(shell));
        QCOMPARE(p.commandLine, "sh " + dir.path() + "/busy.sh");
        QCOMPARE(p.name, QStringLiteral("sh"));
        QVERIFY(!p.exited);
        QVERIFY(p.startedAtMs > 0 && p.startedAtMs <= QDateTime::currentMSecsSinceEpoch());
        QVERIFY(p.runningMs >= 0);
        QVERIFY2(
            p.cpuSeconds <= double(p.runningMs) / 1000 + 1,
            qPrintable(QStringLiteral("%1 s CPU in %2 ms").arg(p.cpuSeconds).arg(p.runningMs)));
        engine.cancel(id);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Cancelled), 10000);
        QVERIFY(engine.task(id)->stack && engine.task(id)->stack->isProcess());
    }

    // SPEC section 5 has one shape for every node: a process node is printed as it was
    // before nodes were typed, one frame (command line, pid, "pid N name, running Xs")
    // awaiting "process <state>".
    void processStackJsonIsAsBefore()
    {
        StackNode leader;
        leader.kind = StackNode::Kind::Process;
        leader.process.pid = 12;
        leader.process.commandLine = QStringLiteral("sh /tmp/x.sh");
        leader.process.exited = true;
        StackNode child;
        child.kind = StackNode::Kind::Process;
        child.process.pid = 4711;
        child.process.commandLine = QStringLiteral("sleep 100");
        child.process.name = QStringLiteral("sleep");
        child.process.state = 'S';
        child.process.cpuSeconds = 1.5;
        child.process.startedAtMs = 1700000000000;
        child.process.runningMs = 3249;
        StackNode stopped = child;
        stopped.process.pid = 4712;
        stopped.process.state = 'T';
        stopped.process.runningMs = 0;
        child.children = {stopped};
        leader.children = {child};
        const QByteArray json =
            QJsonDocument(TaskJson::stack(leader)).toJson(QJsonDocument::Compact);
        QCOMPARE(json,
                 QByteArray(R"({"awaiting":"process exited","children":[{"awaiting":)"
                            R"("process sleeping","children":[{"awaiting":"process stopped",)"
                            R"("children":[],"frames":[{"file":"sleep 100","function":)"
                            R"("pid 4712 sleep, running 0.0s","line":4712}]}],"frames":)"
                            R"([{"file":"sleep 100","function":"pid 4711 sleep, running 3.2s",)"
                            R"("line":4711}]}],"frames":[{"file":"sh /tmp/x.sh","function":)"
                            R"("pid 12, exited","line":12}]})"));
    }

    void escapedProcessesDieWithTheTask()
    {
        ScriptDir dir;
        Engine engine(options());
        Escapee escapee;
        const TaskId id = engine.submit(
            dir.spec("escape.sh", "( setsid sleep " + escapee.seconds + " & ); echo started\n"));
        verifyEscapeeEndsWithTask(engine, id, TaskState::Succeeded, escapee);
    }

    void escapedProcessesDieWhenTheTaskIsCancelled()
    {
        ScriptDir dir;
        Engine engine(options());
        Escapee escapee;
        const TaskId id = engine.submit(dir.spec(
            "escape.sh", "( setsid sleep " + escapee.seconds + " & ); echo started; sleep 100\n"));
        verifyEscapeeEndsWithTask(engine, id, TaskState::Cancelled, escapee);
    }

    void processesEscapingLuaExecDieWithTheCall()
    {
        ScriptDir dir;
        Engine engine(options());
        Escapee escapee;
        const TaskId id =
            engine.submit(dir.spec("escape.lua", "return exec('( setsid sleep " + escapee.seconds +
                                                     " & ); echo started').stdout\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 10000);
        QCOMPARE(engine.task(id)->result.toString(), QStringLiteral("started\n"));
        verifyEscapeeEndsWithTask(engine, id, TaskState::Succeeded, escapee);
        if (QTest::currentTestFailed())
            return;

        Escapee second;
        const TaskId cancelled = engine.submit(dir.spec(
            "escape2.lua", "exec('( setsid sleep " + second.seconds + " & ); sleep 100')\n"));
        verifyEscapeeEndsWithTask(engine, cancelled, TaskState::Cancelled, second);
    }

    void stoppingTheEngineKillsRunningProcesses()
    {
        ScriptDir dir;
        pid_t shell = 0;
        {
            Engine engine(options());
            engine.submit(dir.spec("forever.sh", "trap '' TERM\necho $$ > ready\nsleep 100\n"));
            QTRY_VERIFY_WITH_TIMEOUT(pidIn(dir.path() + "/ready") > 0, 5000);
            shell = pidIn(dir.path() + "/ready");
        }
        QVERIFY(!isAlive(shell));
    }

    void outputFloodKeepsMemoryBounded_data()
    {
        QTest::addColumn<QByteArray>("script");
        QTest::addColumn<int>("lineLength");
        // 300 MB as 3 million lines of 100 bytes, or as one line with no end; 20 MB as
        // 10 million lines of one byte.
        QTest::newRow("lines") << QByteArray("head -c 300000000 /dev/zero | tr '\\0' x "
                                             "| fold -w 100\necho\necho done\n")
                               << 100;
        QTest::newRow("tiny lines") << QByteArray("yes x | head -c 20000000\necho done\n") << 1;
        QTest::newRow("one endless line")
            << QByteArray("head -c 300000000 /dev/zero | tr '\\0' x\necho\necho done\n")
            << int(LineSplitter::MaxLineBytes);
    }
    void outputFloodKeepsMemoryBounded()
    {
        QFETCH(QByteArray, script);
        QFETCH(int, lineLength);
        ScriptDir dir;
        Engine engine(options());
        // Let the engine's threads and allocator settle before the peak is taken.
        const TaskId warmup = engine.submit(dir.spec("warmup.sh", "echo warm\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, warmup, TaskState::Succeeded), 5000);
        const bool reset = resetPeakRss();
        const qint64 before = peakRssKiB();

        const TaskId id = engine.submit(dir.spec("flood.sh", script));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 25000);
        const qint64 growthMiB = (peakRssKiB() - before) / 1024;
        qInfo("peak RSS grew by %lld MiB (peak %lld MiB; reset %s)", growthMiB, peakRssKiB() / 1024,
              reset ? "ok" : "unavailable");
#if defined(__SANITIZE_ADDRESS__)
        // AddressSanitizer keeps freed memory in quarantine (256 MB): no bound to check.
        Q_UNUSED(growthMiB);
#else
        QVERIFY2(growthMiB < 200, qPrintable(QString::number(growthMiB)));
#endif

        // Head and tail kept, with a marker between them.
        const QStringList log = engine.log(id);
        QVERIFY(log.size() < 2500);
        QCOMPARE(log.constLast(), QStringLiteral("done"));
        QVERIFY(log.constFirst().startsWith(QString(lineLength, u'x')));
        if (lineLength < LineSplitter::MaxLineBytes) {
            QCOMPARE(log.constFirst().size(), lineLength);
            QVERIFY(log.contains(QRegularExpression("^\\[taskdeck: \\d+ lines omitted\\]$")));
        } else {
            QVERIFY2(log.constFirst().contains(QRegularExpression(
                         "^x+ \\[taskdeck: \\d+ more bytes of this line cut\\]$")),
                     qPrintable(log.constFirst().right(80)));
        }
    }

    void environmentWorkingDirectoryAndStdin()
    {
        ScriptDir dir;
        Engine engine(options());
        TaskSpec spec = dir.spec("env.sh", "# @arg greeting=hello world\n# @arg Mixed_Key=v=1\n"
                                           "echo \"greeting=$TASKDECK_ARG_GREETING\"\n"
                                           "echo \"mixed=$TASKDECK_ARG_MIXED_KEY\"\n"
                                           "echo \"home=$HOME\"\n"
                                           "echo \"cwd=$(pwd -P)\"\n"
                                           "if read line; then echo \"stdin=$line\"; "
                                           "else echo stdin=eof; fi\n"
                                           "echo \"pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"\n");
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 5000);
        const QStringList log = engine.log(id);
        QVERIFY2(log.contains("greeting=hello world"), qPrintable(log.join('|')));
        QVERIFY(log.contains("mixed=v=1"));
        QVERIFY(log.contains("home=" + qEnvironmentVariable("HOME")));
        QVERIFY(log.contains("cwd=" + QDir(dir.path()).canonicalPath()));
        QVERIFY(log.contains("stdin=eof"));
        const auto ids = log.filter(QRegularExpression("^pgid=")).constFirst().split(u' ');
        QCOMPARE(ids.value(0).mid(5), ids.value(1).mid(4)); // its own process group
    }

    void pythonScriptRunsWithPython3()
    {
        if (QStandardPaths::findExecutable("python3").isEmpty())
            QSKIP("python3 is not installed");
        ScriptDir dir;
        Engine engine(options());
        const TaskId ok = engine.submit(
            dir.spec("ok.py", "# @arg n=42\nimport os, sys\nprint('python', sys.version_info[0])\n"
                              "print(os.environ['TASKDECK_ARG_N'])\nsys.exit(0)\n"));
        const TaskId bad =
            engine.submit(dir.spec("bad.py", "raise RuntimeError('boom from python')\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, ok, TaskState::Succeeded), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, bad, TaskState::Failed), 10000);
        QVERIFY(engine.log(ok).contains("python 3"));
        QVERIFY(engine.log(ok).contains("42"));
        const QString error = engine.task(bad)->error;
        QVERIFY2(error.startsWith("exit code 1\n"), qPrintable(error));
        QVERIFY(error.endsWith("RuntimeError: boom from python"));
    }

    void memoryDirectiveCapsTheAddressSpace()
    {
        if (QStandardPaths::findExecutable("python3").isEmpty())
            QSKIP("python3 is not installed");
        ScriptDir dir;
        Engine engine(options());
        const TaskId capped =
            engine.submit(dir.spec("big.py", "# @memory 100MiB\nx = bytearray(500 * 1024 * 1024)\n"
                                             "print('allocated')\n"));
        const TaskId small =
            engine.submit(dir.spec("small.py", "# @memory 100MiB\nx = bytearray(10 * 1024 * 1024)\n"
                                               "print('allocated')\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, capped, TaskState::Failed), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, small, TaskState::Succeeded), 10000);
        QVERIFY2(engine.task(capped)->error.endsWith("MemoryError"),
                 qPrintable(engine.task(capped)->error));
        QVERIFY(!engine.log(capped).contains("allocated"));
        QVERIFY(engine.log(small).contains("allocated"));
    }

    void executableScriptsRunDirectly()
    {
        ScriptDir dir;
        Engine engine(options());
        const QString withShebang = dir.write("tool", "#!/bin/sh\necho \"shebang $0\"\n", true);
        const QString withoutShebang = dir.write("plain", "echo 'no shebang, run by sh'\n", true);
        const TaskId a = engine.submit(*ScriptLoader::load(withShebang).spec);
        const TaskId b = engine.submit(*ScriptLoader::load(withoutShebang).spec);
        const TaskId c = engine.submit(*ScriptLoader::load("/bin/true").spec);
        QTRY_VERIFY_WITH_TIMEOUT(allSucceeded(engine, {a, b, c}), 5000);
        QCOMPARE(engine.log(a), QStringList("shebang " + withShebang));
        QCOMPARE(engine.log(b), QStringList("no shebang, run by sh"));
    }

    void missingInterpreterFailsNamingIt_data()
    {
        QTest::addColumn<bool>("executable");
        QTest::newRow("executable") << true;
        QTest::newRow("not executable") << false;
    }
    void missingInterpreterFailsNamingIt()
    {
        QFETCH(bool, executable);
        ScriptDir dir;
        Engine engine(options());
        const QString path =
            dir.write("odd", "#!/nonexistent/interpreter -x\necho hi\n", executable);
        const auto loaded = ScriptLoader::load(path);
        QVERIFY(loaded.spec);
        const TaskId id = engine.submit(*loaded.spec);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Failed), 5000);
        const QString error = engine.task(id)->error;
        QVERIFY2(error.startsWith("cannot run "), qPrintable(error));
        QVERIFY2(error.contains("/nonexistent/interpreter"), qPrintable(error));
    }

    void commandNotInPathFails()
    {
        ScriptDir dir;
        Engine engine(options());
        TaskSpec spec = dir.spec("x.sh", "echo never\n");
        spec.command = {"taskdeck-no-such-program", spec.file};
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Failed), 5000);
        QCOMPARE(engine.task(id)->error, "cannot run taskdeck-no-such-program " + spec.file +
                                             ": taskdeck-no-such-program not found in PATH");
    }

    void manyShortProcessesAllSucceed()
    {
        ScriptDir dir;
        Engine engine(options());
        const QList<TaskId> ids =
            engine.submit(*ScriptLoader::load(dir.write("t", "#!/bin/true\n", true)).spec, 200);
        QTRY_VERIFY_WITH_TIMEOUT(allSucceeded(engine, ids), 20000);
    }

    void loaderRejectsWhatCannotRun_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<bool>("executable");
        QTest::addColumn<QString>("reason");
        QTest::newRow("binary, not executable")
            << "blob"
            << QByteArray("\x7f"
                          "ELF\x02\x01\x01\0\0\0\0",
                          12)
            << false
            << "not a task script: expected a .lua, .sh or .py file, a #! line, or the "
               "executable bit";
        QTest::newRow("binary .sh, not executable")
            << "blob.sh"
            << QByteArray("\x7f"
                          "ELF\x02\x01\x01\0\0\0\0",
                          12)
            << false << "binary data without the executable bit";
        QTest::newRow("empty .sh") << "empty.sh" << QByteArray() << false << "empty file";
        QTest::newRow("empty executable") << "empty" << QByteArray() << true << "empty file";
        QTest::newRow("text without a kind")
            << "notes.txt" << QByteArray("echo hi\n") << false
            << "not a task script: expected a .lua, .sh or .py file, a #! line, or the "
               "executable bit";
        QTest::newRow("empty #! line")
            << "bang" << QByteArray("#!\necho\n") << false << "empty #! line";
    }
    void loaderRejectsWhatCannotRun()
    {
        QFETCH(QString, name);
        QFETCH(QByteArray, content);
        QFETCH(bool, executable);
        QFETCH(QString, reason);
        ScriptDir dir;
        const QString path = dir.write(name, content, executable);
        const auto loaded = ScriptLoader::load(path);
        QVERIFY(!loaded.spec);
        QVERIFY2(loaded.error.startsWith(path + ":"), qPrintable(loaded.error));
        QVERIFY2(loaded.error.endsWith(": " + reason), qPrintable(loaded.error));
    }

    void loaderRejectsADirectory()
    {
        ScriptDir dir;
        QVERIFY(QDir(dir.path()).mkdir("folder.sh"));
        const QString path = dir.path() + "/folder.sh";
        const auto loaded = ScriptLoader::load(path);
        QVERIFY(!loaded.spec);
        QCOMPARE(loaded.error, path + ": is a directory, not a task script");
    }

    void loaderTurnsScriptsIntoCommands()
    {
        ScriptDir dir;
        const auto sh = ScriptLoader::load(dir.write("a.sh", "echo\n"));
        const auto py = ScriptLoader::load(dir.write("b.py", "print()\n"));
        const auto env = ScriptLoader::load(dir.write("c", "#!/usr/bin/env python3\n"));
        const auto exe = ScriptLoader::load(dir.write("d", "#!/bin/sh\n", true));
        QCOMPARE(sh.spec->command, QStringList({"sh", dir.path() + "/a.sh"}));
        QCOMPARE(py.spec->command, QStringList({"python3", dir.path() + "/b.py"}));
        QCOMPARE(env.spec->command, QStringList({"/usr/bin/env", "python3", dir.path() + "/c"}));
        QCOMPARE(exe.spec->command, QStringList({dir.path() + "/d"}));
        for (const auto &loaded : {sh, py, env, exe})
            QCOMPARE(loaded.spec->kind, ScriptKind::Process);
    }

    void longLinesKeepTheLogWithinItsByteBudget()
    {
        // 10,000 lines of 4,000 bytes: 2,200 of them (17 MB as UTF-16) were kept.
        ScriptDir dir;
        Engine engine(options());
        const TaskId id = engine.submit(
            dir.spec("long.sh",
                     "head -c 40000000 /dev/zero | tr '\\0' x | fold -w 4000\necho\necho done\n"));
        QTRY_VERIFY_WITH_TIMEOUT(hasState(engine, id, TaskState::Succeeded), 30000);
        const QStringList log = engine.log(id);
        qint64 bytes = 0;
        for (const QString &line : log)
            bytes += 2 * qint64(line.size());
        QVERIFY2(bytes <= LogBuffer::DefaultMaxBytes, qPrintable(QString::number(bytes)));
        QCOMPARE(log.constFirst(), QString(4000, u'x'));
        QCOMPARE(log.constLast(), QStringLiteral("done"));
        QVERIFY(log.contains(QRegularExpression("^\\[taskdeck: \\d+ lines omitted\\]$")));
    }
};

QTEST_GUILESS_MAIN(tst_ProcessTask)
#include "tst_processtask.moc"
