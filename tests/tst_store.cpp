// The task store (issue "Nothing lost across restarts"): what a real engine ran comes
// back exactly, the queue comes back in its order, tasks running at a crash come back
// interrupted with their last stack, and a damaged or unusable store never stops Taskdeck.
#include "store/storecodec.h"
#include "store/taskstore.h"
#include "taskjson.h"
#include "testsupport.h"

#include <QDir>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMutex>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace {

// A look at a store's file from the test, through a connection of its own (the store's
// writer keeps writing meanwhile: WAL lets both in).
class StoreFile
{
public:
    explicit StoreFile(const QString &path)
        : m_name(QStringLiteral("tst_store-%1").arg(++s_connections))
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
        db.setDatabaseName(path);
        db.open();
    }
    ~StoreFile()
    {
        QSqlDatabase::database(m_name, false).close();
        QSqlDatabase::removeDatabase(m_name);
    }
    QVariant value(const QString &sql) const
    {
        QSqlQuery query(QSqlDatabase::database(m_name));
        if (!query.exec(sql) || !query.next())
            return {};
        return query.value(0);
    }
    int count(const QString &table) const
    {
        return value(QStringLiteral("SELECT count(*) FROM %1").arg(table)).toInt();
    }

private:
    static inline int s_connections = 0;
    QString m_name;
};

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) &&
           file.write(content) == content.size();
}

// Every field of a stack, children included, as one comparable line.
QString dump(const StackNode &stack)
{
    if (stack.isProcess()) {
        const ProcessInfo &p = stack.process;
        QString text = QStringLiteral("{pid %1 command '%2' name '%3' state %4 exited %5 cpu %6 "
                                      "started %7 running %8 children [")
                           .arg(p.pid)
                           .arg(p.commandLine, p.name, QString(QLatin1Char(p.state)))
                           .arg(p.exited)
                           .arg(p.cpuSeconds, 0, 'g', 17)
                           .arg(p.startedAtMs)
                           .arg(p.runningMs);
        for (const StackNode &child : stack.children)
            text += dump(child);
        return text + QStringLiteral("]}");
    }
    QString text = QStringLiteral("{id %1 awaiting '%2' since %3 frames [")
                       .arg(stack.id)
                       .arg(stack.awaiting)
                       .arg(stack.awaitingSinceMs);
    for (const StackFrame &f : stack.frames)
        text += QStringLiteral("%1:%2 %3; ").arg(f.file).arg(f.line).arg(f.function);
    text += QStringLiteral("] children [");
    for (const CoroutineStack &child : stack.children)
        text += dump(child);
    return text + QStringLiteral("]}");
}

QString dump(const std::shared_ptr<const CoroutineStack> &stack)
{
    return stack ? dump(*stack) : QStringLiteral("none");
}

const RestoredTask *findTask(const TaskStore::Recovery &recovery, TaskId id)
{
    for (const RestoredTask &task : recovery.tasks)
        if (task.snapshot.id == id)
            return &task;
    return nullptr;
}

// Copies a store that is open (its file and its write-ahead log) into `dir`.
void copyStore(const QString &path, const QString &dir)
{
    for (const char *suffix : {"", "-wal"})
        QVERIFY(QFile::copy(path + suffix, dir + "/taskdeck.db" + suffix));
}

bool allFinished(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (!isFinished(stateOf(engine, id)))
            return false;
    return true;
}

TaskSpec named(TaskSpec spec, const QString &name, int priority)
{
    spec.name = name;
    spec.priority = priority;
    return spec;
}

// A batch as the engine would publish it, for tests that need no running tasks.
EngineUpdate batchOf(const QList<TaskSnapshot> &changed)
{
    EngineUpdate update;
    update.changed = changed;
    return update;
}

// Submits `count` tasks of one spec (ids and queue sequences from `first` on) straight
// into a store's journal interface.
void submitCopies(TaskStore &store, const TaskSpec &spec, TaskId first, int count)
{
    auto shared = std::make_shared<const TaskSpec>(spec);
    QList<TaskId> ids;
    QList<std::shared_ptr<const TaskSpec>> specs;
    for (int i = 0; i < count; ++i) {
        ids.append(first + TaskId(i));
        specs.append(shared);
    }
    store.submitted(ids, specs, qint64(first));
}

// Feeds `count` tasks of one spec straight into a store's journal interface, finished.
void recordFinished(TaskStore &store, const TaskSpec &spec, TaskId first, int count)
{
    QList<TaskSnapshot> done;
    for (int i = 0; i < count; ++i) {
        TaskSnapshot s;
        s.id = first + TaskId(i);
        s.state = TaskState::Succeeded;
        s.attempt = 1;
        s.result = i;
        s.submittedAtMs = s.startedAtMs = 1000;
        s.finishedAtMs = 2000 + i;
        done.append(s);
    }
    submitCopies(store, spec, first, count);
    store.published(batchOf(done));
}

// What a store in `dir` gives back after tasks 1-3 finished, `forgotten` was forgotten
// and Taskdeck restarted (nothing when a store cannot be opened there).
TaskStore::Recovery recoverAfterForgetting(const QString &dir, TaskId forgotten)
{
    {
        TaskStore store;
        if (store.open(dir).status != TaskStore::OpenStatus::Opened)
            return {};
        TaskSpec spec;
        spec.file = "/x/a.lua";
        recordFinished(store, spec, 1, 3);
        store.forget({forgotten});
    }
    TaskStore store;
    if (store.open(dir).status != TaskStore::OpenStatus::Opened)
        return {};
    return store.recover();
}

// Texts a task may hand over: JSON's special characters, every kind of control
// character, NUL (inside and at the ends), characters outside the BMP, and texts that
// read as JSON themselves. (Not U+FFFE or U+FFFF: SQLite reads those back as U+FFFD.)
QStringList awkwardTexts()
{
    const QChar nul(0);
    return {
        QStringLiteral("quote \" backslash \\ slash / \\u0000 \\n \\\""),
        QStringLiteral("controls \n\r\t\b\f") + QChar(1) + QChar(0x1f) + QChar(0x7f) + u'.',
        nul + QStringLiteral("NUL inside") + nul + nul + QStringLiteral("and at the end") + nul,
        QStringLiteral("non-BMP \U0001F600 \U0001D11E, BMP \u00e9 \u20ac \u4e2d \u2028 \ufeff"),
        QStringLiteral("null"),
        QStringLiteral("42"),
        QStringLiteral("[1, \"x\"]"),
        QStringLiteral(" {\"a\": 1} "),
    };
}

// A stack holding `texts` in every one of its strings.
std::shared_ptr<const CoroutineStack> stackOf(const QStringList &texts, int seed)
{
    auto text = [&](int i) { return texts[(seed + i) % texts.size()]; };
    CoroutineStack child;
    child.id = 2;
    child.frames = {{text(1), 7, text(2)}};
    child.awaiting = text(3);
    child.awaitingSinceMs = 1700000000123;
    StackNode process; // as exec() shows the processes it started
    process.kind = StackNode::Kind::Process;
    process.process.pid = 4711 + seed;
    process.process.commandLine = text(8);
    process.process.name = text(9);
    process.process.state = "RSDTZ"[seed % 5];
    process.process.cpuSeconds = 1.0 / 3 + seed;
    process.process.startedAtMs = 1700000000456;
    process.process.runningMs = 3249 + seed;
    StackNode exited = process;
    exited.process.exited = true;
    exited.process.cpuSeconds = -1;
    exited.process.startedAtMs = -1;
    process.children = {exited};
    child.children = {process};
    auto stack = std::make_shared<CoroutineStack>();
    stack->id = 1;
    stack->frames = {{text(4), seed, text(5)}, {text(6), 1, text(7)}};
    stack->awaiting = text(0);
    stack->awaitingSinceMs = 1700000000000 + seed;
    stack->children = {child};
    return stack;
}

quint64 bitsOf(double value)
{
    quint64 bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

} // namespace

class tst_TaskStore : public QObject
{
    Q_OBJECT

private:
    static QByteArray appendName(const QString &orderFile)
    {
        return QStringLiteral("local f = assert(io.open(\"%1\", 'a'))\n"
                              "f:write(task.name, '\\n')\nf:close()\n")
            .arg(orderFile)
            .toUtf8();
    }

private Q_SLOTS:
    void initTestCase() { qRegisterMetaType<EngineUpdate>(); }

    void everyFinishedTaskComesBackExactly()
    {
        ScriptDir dir;
        QTemporaryDir data;
        QList<TaskSpec> specs{
            dir.spec("ok.lua", "-- @name greeter\n-- @priority 3\n-- @group web\n"
                               "-- @arg who=world\n-- @arg n=2\n-- @memory 32MiB\n"
                               "log('hello', task.args.who)\nlog('two\\nlines')\n"
                               "progress(0.5, 'half way')\n"
                               "return {answer = 42, ratio = 2.5, list = {1, 'x', true}}\n"),
            dir.spec("bad.lua", "local function inner() error('boom') end\n"
                                "local function outer() inner() end\nouter()\n"),
            dir.spec("slow.lua", "-- @timeout 200ms\nlocal function wait() sleep(10) end\n"
                                 "wait()\n"),
            dir.spec("long.lua", "log('waiting')\nsleep(30)\n"),
            dir.spec("flaky.lua", "-- @retries 2\n-- @retry-delay 0ms\n"
                                  "log('attempt', task.attempt)\n"
                                  "if task.attempt < 3 then error('flaky') end\n"
                                  "return 'third time'\n"),
            dir.spec("chatty.lua", "for i = 1, 500 do log('line', i) end\nreturn 'said it'\n"),
            dir.spec("tool.sh", "#!/bin/sh\necho out\nexit 3\n"),
        };
        QCOMPARE(specs.last().kind, ScriptKind::Process);

        QList<TaskSnapshot> before;
        QHash<TaskId, QStringList> logs;
        QList<TaskId> ids;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            QVERIFY(store.isOpen());
            QCOMPARE(store.path(), data.path() + "/taskdeck.db");
            QCOMPARE(store.recover().tasks.size(), 0);
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            ids = engine.submit(specs);
            const TaskId cancelled = ids[3];
            QTRY_VERIFY(isSuspended(engine, cancelled));
            engine.cancel(cancelled);
            QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
            before = engine.tasks();
            for (TaskId id : ids)
                logs.insert(id, engine.log(id));
        }
        QCOMPARE(before.size(), specs.size());
        QCOMPARE(before[0].state, TaskState::Succeeded);
        QCOMPARE(before[1].state, TaskState::Failed);
        QCOMPARE(before[2].state, TaskState::TimedOut);
        QCOMPARE(before[3].state, TaskState::Cancelled);
        QCOMPARE(before[4].attempt, 3);
        QCOMPARE(before[6].state, TaskState::Failed);
        QCOMPARE(logs[ids[5]].size(), 500);

        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.tasks.size(), specs.size());
        QCOMPARE(recovery.finished, specs.size());
        QCOMPARE(recovery.pending, 0);
        QCOMPARE(recovery.interrupted, 0);
        QVERIFY(recovery.interruptedGroups.isEmpty());
        for (qsizetype i = 0; i < before.size(); ++i) {
            const TaskSnapshot &want = before[i];
            const RestoredTask &got = recovery.tasks[i]; // by id
            const TaskSnapshot &s = got.snapshot;
            QCOMPARE(s.id, want.id);
            QCOMPARE(s.state, want.state);
            QCOMPARE(s.name, want.name);
            QCOMPARE(s.file, want.file);
            QCOMPARE(s.group, want.group);
            QCOMPARE(s.kind, want.kind);
            QCOMPARE(s.priority, want.priority);
            QCOMPARE(s.attempt, want.attempt);
            QCOMPARE(s.maxAttempts, want.maxAttempts);
            QCOMPARE(s.progress, want.progress);
            QCOMPARE(s.status, want.status);
            QVERIFY2(s.result == want.result, qPrintable(s.result.toVariant().toString()));
            QCOMPARE(s.result.isUndefined(), want.result.isUndefined());
            QCOMPARE(s.error, want.error);
            QCOMPARE(dump(s.stack), dump(want.stack));
            QCOMPARE(s.submittedAtMs, want.submittedAtMs);
            QCOMPARE(s.startedAtMs, want.startedAtMs);
            QCOMPARE(s.finishedAtMs, want.finishedAtMs);
            QCOMPARE(got.log, logs[want.id].mid(qMax(0, logs[want.id].size() - 200)));

            const TaskSpec &spec = specs[i];
            QVERIFY(got.spec);
            QCOMPARE(got.spec->file, spec.file);
            QCOMPARE(got.spec->kind, spec.kind);
            QCOMPARE(got.spec->command, spec.command);
            QCOMPARE(got.spec->name, spec.name);
            QCOMPARE(got.spec->group, spec.group);
            QCOMPARE(got.spec->priority, spec.priority);
            QCOMPARE(got.spec->timeoutMs, spec.timeoutMs);
            QCOMPARE(got.spec->retries, spec.retries);
            QCOMPARE(got.spec->retryDelayMs, spec.retryDelayMs);
            QCOMPARE(got.spec->memoryBytes, spec.memoryBytes);
            QCOMPARE(got.spec->args, spec.args);
            QCOMPARE(got.spec->source, spec.source);
        }
        // What the cases are about, beyond "equal".
        const QList<RestoredTask> &t = recovery.tasks;
        QCOMPARE(t[0].snapshot.result.toObject().value("answer").toInteger(), 42);
        QCOMPARE(t[0].log, QStringList({"hello world", "two\nlines"}));
        QCOMPARE(t[0].spec->args.size(), 2);
        QVERIFY(t[1].snapshot.error.endsWith("boom"));
        QVERIFY(t[1].snapshot.stack && t[1].snapshot.stack->frames.size() >= 2);
        QCOMPARE(t[2].snapshot.stack->awaiting, QStringLiteral("sleep(10)"));
        QVERIFY(t[2].snapshot.stack->awaitingSinceMs > 0);
        QCOMPARE(t[3].snapshot.stack->awaiting, QStringLiteral("sleep(30)"));
        QCOMPARE(t[4].log, QStringList({"attempt 1", "attempt 2", "attempt 3"}));
        QCOMPARE(t[5].log.size(), 200);
        QCOMPARE(t[5].log.last(), QStringLiteral("line 500"));
        QVERIFY(!t[6].spec->command.isEmpty());

        StoreFile file(store.path());
        QCOMPARE(
            file.value(QStringLiteral("SELECT transitions FROM tasks WHERE id = %1").arg(ids[0]))
                .toString()
                .section(u' ', -1)
                .section(u'@', 0, 0),
            QStringLiteral("succeeded"));
    }

    // Whatever the texts and numbers of a task hold comes back as it was, and what is not
    // set stays NULL, however its row was written: inserted as submitted and updated later,
    // or inserted finished at once.
    void awkwardValuesComeBackExactly()
    {
        const QStringList texts = awkwardTexts();
        QList<double> progresses{-1, 0, 1, 0.5, 1.0 / 3, 0.1, 0.30000000000000004, 2.0 / 3};
        progresses << 5e-324 << 1e-300 << std::nextafter(1.0, 0.0) << 123456.789e-10;
        const int count = int(qMax(texts.size(), progresses.size()));
        auto text = [&](int i) { return texts[i % texts.size()]; };
        TaskSpec definition;
        definition.file = "/x/awkward.lua";
        definition.retries = 2;
        auto spec = std::make_shared<const TaskSpec>(definition);
        // Task i + 1: for an even i written submitted, then pending, running and failed, a
        // transaction each; for an odd i written failed at once.
        auto snapshot = [&](int i, TaskState state) {
            TaskSnapshot s;
            s.id = TaskId(i + 1);
            s.state = state;
            s.priority = i - 5;
            s.sequence = 1000000000000000 + i;
            s.maxAttempts = 3;
            s.submittedAtMs = 1700000000000 + i;
            if (state == TaskState::Pending)
                return s;
            s.attempt = 1;
            s.startedAtMs = 1700000001000 + i;
            s.progress = progresses[i % progresses.size()];
            s.status = text(i);
            if (state == TaskState::Running)
                return s;
            s.finishedAtMs = 1700000002000 + i;
            s.error = text(i + 1);
            if (i % 3 == 0)
                s.result = QJsonValue(text(i + 2));
            else if (i % 3 == 1)
                s.result = QJsonObject{{text(i + 2), QJsonArray{text(i + 3), -0.1 * i, i}}};
            s.stack = stackOf(texts, i);
            return s;
        };
        auto logOf = [&](int i) { return QStringList{text(i + 4), text(i + 5), QString()}; };

        QTemporaryDir data;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            store.recover();
            QList<TaskId> ids;
            QList<std::shared_ptr<const TaskSpec>> specs;
            for (int i = 0; i < 2 * count; ++i) {
                ids.append(TaskId(i + 1));
                specs.append(spec);
            }
            store.submitted(ids, specs, 1);
            EngineUpdate together;
            for (int i = 1; i < 2 * count; i += 2) {
                together.changed.append(snapshot(i, TaskState::Failed));
                together.logs.append({TaskId(i + 1), logOf(i)});
            }
            store.published(together);
            store.sync(); // tasks 1, 3, 5... are rows of submitted tasks now
            EngineUpdate pending, running, failed;
            for (int i = 0; i < 2 * count; i += 2) {
                pending.changed.append(snapshot(i, TaskState::Pending));
                running.changed.append(snapshot(i, TaskState::Running));
                running.logs.append({TaskId(i + 1), logOf(i).mid(0, 1)});
                failed.changed.append(snapshot(i, TaskState::Failed));
                failed.logs.append({TaskId(i + 1), logOf(i).mid(1)});
            }
            for (const EngineUpdate &update : {pending, running, failed}) {
                store.published(update);
                store.sync();
            }
        }

        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.tasks.size(), 2 * count);
        for (int i = 0; i < 2 * count; ++i) {
            const TaskSnapshot want = snapshot(i, TaskState::Failed);
            const RestoredTask *got = findTask(recovery, want.id);
            QVERIFY(got);
            const TaskSnapshot &s = got->snapshot;
            QCOMPARE(s.state, want.state);
            QCOMPARE(s.priority, want.priority);
            QCOMPARE(s.sequence, want.sequence);
            QCOMPARE(s.attempt, want.attempt);
            QCOMPARE(s.maxAttempts, want.maxAttempts);
            QCOMPARE(s.submittedAtMs, want.submittedAtMs);
            QCOMPARE(s.startedAtMs, want.startedAtMs);
            QCOMPARE(s.finishedAtMs, want.finishedAtMs);
            QCOMPARE(bitsOf(s.progress), bitsOf(want.progress));
            QCOMPARE(s.status, want.status);
            QCOMPARE(s.error, want.error);
            QCOMPARE(s.result, want.result);
            QCOMPARE(s.result.isUndefined(), want.result.isUndefined());
            QCOMPARE(dump(s.stack), dump(want.stack));
            QCOMPARE(got->log, logOf(i));
        }

        // SQLite holds the values as binding them would: typed, and NULL where unset.
        StoreFile file(store.path());
        auto types = [&](TaskId id) {
            return file
                .value(QStringLiteral(
                           "SELECT typeof(priority) || typeof(sequence) || typeof(submitted_at)"
                           " || typeof(progress) || typeof(status) || typeof(result)"
                           " || typeof(error) || typeof(stack) FROM tasks WHERE id = %1")
                           .arg(id))
                .toString();
        };
        QCOMPARE(types(1), QStringLiteral("integerintegerintegernulltexttexttexttext"));
        QCOMPARE(types(6), QStringLiteral("integerintegerintegerrealtexttexttexttext"));
        // NUL and what follows it are in the column (task 3's status, task 2's error).
        const QString bytes = QString::number(text(2).toUtf8().size());
        QCOMPARE(
            file.value("SELECT length(CAST(status AS BLOB)) FROM tasks WHERE id = 3").toString(),
            bytes);
        QCOMPARE(
            file.value("SELECT length(CAST(error AS BLOB)) FROM tasks WHERE id = 2").toString(),
            bytes);

        // A task submitted and never published: only what the submission tells (its queue
        // sequence included).
        store.submitted({100}, {spec}, 100);
        EngineUpdate blank; // published, but with nothing set
        TaskSnapshot nothing;
        nothing.id = 101;
        store.submitted({101}, {spec}, 101);
        store.sync();
        blank.changed.append(nothing);
        store.published(blank);
        store.sync();
        QCOMPARE(file.value("SELECT quote(sequence) || quote(started_at) || quote(finished_at)"
                            " || quote(progress) || quote(status) || quote(result)"
                            " || quote(error) || quote(stack) || quote(log_tail) || state"
                            " || attempt || max_attempts FROM tasks WHERE id = 100")
                     .toString(),
                 QStringLiteral("100NULLNULLNULLNULLNULLNULLNULLNULLpending03"));
        QCOMPARE(file.value("SELECT quote(submitted_at) || quote(started_at) || quote(progress)"
                            " || quote(status) || quote(error) || quote(stack) || sequence"
                            " FROM tasks WHERE id = 101")
                     .toString(),
                 QStringLiteral("NULLNULLNULLNULLNULLNULL0"));
    }

    // The log tail and the live stack of a running task, saved every second, hold any text.
    void awkwardLogOfARunningTaskComesBackExactly()
    {
        ScriptDir dir;
        QTemporaryDir data;
        QTemporaryDir crashed;
        const TaskSpec spec = dir.spec(
            "awkward \u00e9 \U0001F600.lua",
            "local function awkward()\n"
            "  log('quote \" backslash \\\\ NUL \\0 controls \\1\\31\\n \u00e9 \U0001F600')\n"
            "  sleep(60)\nend\nawkward()\n");
        TaskId id = 0;
        QStringList log;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            id = engine.submit(spec);
            QTRY_VERIFY(isSuspended(engine, id));
            log = engine.log(id);
            QCOMPARE(log.size(), 1);
            QVERIFY(log.first().contains(QChar(0)));
            StoreFile file(store.path());
            const QString sql = QStringLiteral("SELECT stack FROM tasks WHERE id = %1").arg(id);
            QTRY_VERIFY_WITH_TIMEOUT(file.value(sql).toString().contains("sleep(60)"), 5000);
            store.sync();
            copyStore(store.path(), crashed.path());
        }
        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        const RestoredTask *task = findTask(recovery, id);
        QVERIFY(task);
        QCOMPARE(task->snapshot.state, TaskState::Interrupted);
        QCOMPARE(task->log, log);
        QVERIFY(task->snapshot.stack && !task->snapshot.stack->frames.isEmpty());
        QCOMPARE(task->snapshot.stack->frames.first().function, QStringLiteral("awkward"));
        QCOMPARE(task->snapshot.stack->frames.first().file, spec.file);
    }

    // A transaction of many tasks is written in several statements: every task's row, with
    // its values.
    void aBigDrainIsWrittenWhole()
    {
        constexpr int N = 20000;
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        TaskSpec spec;
        spec.file = "/x/many.lua";
        recordFinished(store, spec, 1, N); // inserted finished
        auto shared = std::make_shared<const TaskSpec>(spec);
        QList<TaskId> ids;
        QList<std::shared_ptr<const TaskSpec>> specs;
        EngineUpdate done;
        for (int i = 0; i < N; ++i) {
            ids.append(TaskId(N + 1 + i));
            specs.append(shared);
            TaskSnapshot s;
            s.id = TaskId(N + 1 + i);
            s.state = TaskState::Succeeded;
            s.attempt = 1;
            s.result = N + i;
            s.submittedAtMs = s.startedAtMs = 1000;
            s.finishedAtMs = 2000 + N + i; // as recordFinished() has it: 1999 + id
            done.changed.append(s);
        }
        store.submitted(ids, specs, N + 1);
        store.sync(); // inserted submitted
        store.published(done);
        store.sync(); // updated
        StoreFile file(store.path());
        QCOMPARE(file.value("SELECT count(*) FROM tasks WHERE state = 'succeeded'").toInt(), 2 * N);
        QCOMPARE(file.value("SELECT count(*) FROM tasks WHERE CAST(result AS INTEGER) = id - 1"
                            " AND finished_at = 1999 + id AND transitions LIKE 'pending@%'")
                     .toInt(),
                 2 * N);
        QCOMPARE(
            file.value("SELECT count(*) FROM tasks WHERE transitions LIKE '% succeeded@%'").toInt(),
            2 * N);
    }

    // Writing a task's new state never makes a row: one deleted behind the store's back
    // stays deleted.
    void updatesMakeNoRows()
    {
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        TaskSpec spec;
        spec.file = "/x/gone.lua";
        submitCopies(store, spec, 1, 2);
        store.sync();
        StoreFile file(store.path());
        QCOMPARE(file.count("tasks"), 2);
        file.value("DELETE FROM tasks WHERE id = 1");
        QList<TaskSnapshot> done;
        for (TaskId id : {1, 2}) {
            TaskSnapshot s;
            s.id = id;
            s.state = TaskState::Succeeded;
            s.attempt = 1;
            s.finishedAtMs = 2000;
            done.append(s);
        }
        store.published(batchOf(done));
        store.sync();
        QCOMPARE(file.count("tasks"), 1);
        QCOMPARE(file.value("SELECT state FROM tasks WHERE id = 2").toString(),
                 QStringLiteral("succeeded"));
    }

    // The store holds script sources and @arg values: only its owner may read it, its
    // WAL and shared-memory files included, and a new data directory is private too.
    void storeFilesAndANewDataDirectoryArePrivate()
    {
        QTemporaryDir data;
        const QString dir = data.path() + QStringLiteral("/new/taskdeck");
        const QString db = dir + QStringLiteral("/taskdeck.db");
        auto mode = [](const QString &path) {
            struct stat st;
            return ::stat(QFile::encodeName(path).constData(), &st) == 0 ? int(st.st_mode & 0777)
                                                                         : -1;
        };
        {
            TaskStore store;
            QCOMPARE(store.open(dir).status, TaskStore::OpenStatus::Opened);
            TaskSpec spec;
            spec.file = "/x/secret.lua";
            spec.source = "return 'token'";
            submitCopies(store, spec, 1, 1);
            store.sync();
            QCOMPARE(mode(dir), 0700);
            QCOMPARE(mode(db), 0600);
            QCOMPARE(mode(db + "-wal"), 0600);
            QCOMPARE(mode(db + "-shm"), 0600);
        }
        // A store made readable by others before is tightened when opened.
        QVERIFY(::chmod(QFile::encodeName(db).constData(), 0644) == 0);
        TaskStore store;
        QCOMPARE(store.open(dir).status, TaskStore::OpenStatus::Opened);
        store.sync();
        QCOMPARE(mode(db), 0600);
    }

    // A stack a previous version stored, with processes written as coroutines (the command
    // line as a frame's file, the pid as its line), decodes to process nodes, and SPEC
    // section 5 prints them as before; a coroutine that looks only a little like one stays
    // a coroutine.
    void processStackOfAPreviousVersionDecodesToProcessNodes()
    {
        const QString stored = QStringLiteral(
            R"({"awaiting":"process exited","children":[{"awaiting":"process sleeping",)"
            R"("children":[{"awaiting":"process in state X","frames":[{"file":"a b",)"
            R"("function":"pid 9 (sd-pam), x, running 12.0s","line":9}],"id":9}],)"
            R"("frames":[{"file":"sleep 100","function":"pid 4711 sleep, running 3.2s",)"
            R"("line":4711}],"id":4711,"since":1700000000000}],"frames":[{"file":)"
            R"("sh /tmp/x.sh","function":"pid 12, exited","line":12}],"id":12})");
        const auto stack = StoreCodec::stackFromText(stored);
        QVERIFY(stack && stack->isProcess());
        QCOMPARE(stack->process.pid, qint64(12));
        QCOMPARE(stack->process.commandLine, QStringLiteral("sh /tmp/x.sh"));
        QVERIFY(stack->process.exited);
        QCOMPARE(stack->children.size(), 1);
        const StackNode &sleep = stack->children.first();
        QVERIFY(sleep.isProcess() && sleep.frames.isEmpty() && sleep.awaiting.isEmpty());
        QCOMPARE(sleep.process.pid, qint64(4711));
        QCOMPARE(sleep.process.commandLine, QStringLiteral("sleep 100"));
        QCOMPARE(sleep.process.name, QStringLiteral("sleep"));
        QCOMPARE(sleep.process.state, 'S');
        QCOMPARE(sleep.process.startedAtMs, qint64(1700000000000));
        QCOMPARE(sleep.process.runningMs, qint64(3200));
        QCOMPARE(sleep.process.cpuSeconds, -1.0); // not kept then
        QCOMPARE(sleep.children.size(), 1);
        QCOMPARE(sleep.children.first().process.name, QStringLiteral("(sd-pam), x"));
        QCOMPARE(sleep.children.first().process.state, 'X');

        QJsonObject old = QJsonDocument::fromJson(stored.toUtf8()).object();
        auto publicForm = [](auto &&self, QJsonObject node) -> QJsonObject {
            node.remove(QStringLiteral("id"));
            node.remove(QStringLiteral("since"));
            QJsonArray children;
            for (const QJsonValue &child : node.value(QStringLiteral("children")).toArray())
                children.append(self(self, child.toObject()));
            node.insert(QStringLiteral("children"), children);
            return node;
        };
        QCOMPARE(QJsonDocument(TaskJson::stack(*stack)).toJson(QJsonDocument::Compact),
                 QJsonDocument(publicForm(publicForm, old)).toJson(QJsonDocument::Compact));

        for (const QString &coroutine :
             {QStringLiteral(R"({"awaiting":"process sleeping","frames":[{"file":"a.lua",)"
                             R"("function":"fetch","line":3}],"id":3})"),
              QStringLiteral(R"({"awaiting":"process sleeping","frames":[{"file":"a.lua",)"
                             R"("function":"pid 3 a, running 1.0s","line":3}],"id":4})"),
              QStringLiteral(R"({"awaiting":"Queue:get","frames":[{"file":"a.lua",)"
                             R"("function":"pid 3 a, running 1.0s","line":3}],"id":3})")}) {
            const auto decoded = StoreCodec::stackFromText(coroutine);
            QVERIFY2(decoded && !decoded->isProcess() && decoded->frames.size() == 1,
                     qPrintable(coroutine));
            QCOMPARE(StoreCodec::stackText(decoded), coroutine);
        }
    }

    void queueComesBackInTheSameOrder()
    {
        ScriptDir dir;
        QTemporaryDir data;
        QTemporaryDir crashed;
        const QString order = dir.path() + "/order";
        const TaskSpec spec = dir.spec("t.lua", appendName(order));
        QStringList expected; // the order the original engine runs its queue in
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.pause();
            QList<TaskSpec> specs;
            for (const auto &[name, priority] : QList<std::pair<QString, int>>{
                     {"a", 0}, {"b", 5}, {"c", 0}, {"d", 5}, {"e", 1}, {"f", 0}, {"g", 2}})
                specs.append(named(spec, name, priority));
            const QList<TaskId> ids = engine.submit(specs);
            engine.moveToTop(ids[5]);          // f first
            engine.moveBefore(ids[0], ids[1]); // a just before b
            engine.setPriority(ids[6], 7);     // g up, before f
            engine.flush();
            QCOMPARE(engine.liveCounts().pending, 7); // queued after the flush: published
            store.sync();
            copyStore(store.path(), crashed.path()); // what `kill -9` would leave

            engine.resume();
            QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
            expected = readLines(order);
            QVERIFY(QFile::remove(order));
        }
        QCOMPARE(expected, QStringList({"g", "f", "a", "b", "d", "e", "c"}));

        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.pending, 7);
        QCOMPARE(recovery.tasks.size(), 7);
        QStringList listed;
        for (const RestoredTask &task : recovery.tasks)
            listed.append(task.snapshot.name);
        QCOMPARE(listed, expected);
        {
            Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
            engine.pause();
            engine.restore(recovery.tasks);
            engine.setJournal(&store);
            QList<TaskId> ids;
            for (const RestoredTask &task : recovery.tasks)
                ids.append(task.snapshot.id);
            QTRY_COMPARE(engine.liveCounts().pending, 7);
            engine.resume();
            QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        }
        QCOMPARE(readLines(order), expected);
        // The restored tasks went on being recorded, with their one spec row.
        store.sync();
        StoreFile file(store.path());
        QCOMPARE(file.value("SELECT count(*) FROM tasks WHERE state = 'succeeded'").toInt(), 7);
        QCOMPARE(file.count("specs"), 7);
    }

    // Restored pending tasks keep their queue sequences (moved-to-top ones included), so
    // their rows need no rewrite; tasks queued after the restart go after them, and a
    // move to the top still goes before all of them.
    void restoredQueueKeepsItsSequencesAndNewTasksComeAfter()
    {
        ScriptDir dir;
        QTemporaryDir data;
        const TaskSpec spec = dir.spec("t.lua", "return 1");
        QString before;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            store.recover();
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.pause();
            const QList<TaskId> ids = engine.submit(spec, 5);
            engine.moveToTop(ids[3]);
            engine.flush();
            QCOMPARE(engine.liveCounts().pending, 5); // handed to the store by now
            store.sync();
            before = StoreFile(store.path())
                         .value("SELECT group_concat(id || ':' || sequence, ' ') FROM"
                                " (SELECT id, sequence FROM tasks ORDER BY id)")
                         .toString();
        }
        QVERIFY2(before.contains(QStringLiteral("4:-")), qPrintable(before));

        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.pending, 5);
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        engine.restore(recovery.tasks, recovery.lastId);
        engine.setJournal(&store);
        const TaskId later = engine.submit(spec);
        engine.flush();
        QCOMPARE(engine.liveCounts().pending, 6);
        store.sync();
        StoreFile file(store.path());
        QCOMPARE(file.value("SELECT group_concat(id || ':' || sequence, ' ') FROM"
                            " (SELECT id, sequence FROM tasks WHERE id <= 5 ORDER BY id)")
                     .toString(),
                 before);
        QCOMPARE(file.value(QStringLiteral("SELECT count(*) FROM tasks WHERE sequence >="
                                           " (SELECT sequence FROM tasks WHERE id = %1)")
                                .arg(later))
                     .toInt(),
                 1);
        engine.moveToTop(later);
        engine.flush();
        QCOMPARE(engine.liveCounts().pending, 6);
        store.sync();
        QCOMPARE(file.value("SELECT id FROM tasks ORDER BY sequence LIMIT 1").toLongLong(),
                 qint64(later));
    }

    void taskRunningAtACrashComesBackInterruptedWithItsStack()
    {
        ScriptDir dir;
        QTemporaryDir data;
        QTemporaryDir crashed;
        const TaskSpec spec = dir.spec("hang.lua", "-- @group slow\n"
                                                   "local function waitForever()\n"
                                                   "  sleep(60)\nend\n"
                                                   "log('started')\nwaitForever()\n");
        TaskId id = 0;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            id = engine.submit(spec);
            QTRY_VERIFY(isSuspended(engine, id));
            // The 1 s sample has put the live stack into the row.
            StoreFile file(store.path());
            const QString sql = QStringLiteral("SELECT stack FROM tasks WHERE id = %1").arg(id);
            QTRY_VERIFY_WITH_TIMEOUT(file.value(sql).toString().contains("sleep(60)"), 5000);
            QCOMPARE(file.value(QStringLiteral("SELECT log_tail FROM tasks WHERE id = %1").arg(id))
                         .toString(),
                     QStringLiteral("[\"started\"]"));
            store.sync();
            copyStore(store.path(), crashed.path()); // what `kill -9` would leave
        }

        {
            TaskStore store;
            QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
            const TaskStore::Recovery recovery = store.recover();
            QCOMPARE(recovery.interrupted, 1);
            QCOMPARE(recovery.finished, 1);
            QCOMPARE(recovery.interruptedGroups, QStringList{"slow"});
            const RestoredTask *task = findTask(recovery, id);
            QVERIFY(task);
            QCOMPARE(task->snapshot.state, TaskState::Interrupted);
            QCOMPARE(task->snapshot.error,
                     QStringLiteral("interrupted: Taskdeck stopped while it ran"));
            QVERIFY(task->snapshot.finishedAtMs >= task->snapshot.startedAtMs);
            QCOMPARE(task->log, QStringList{"started"});
            QVERIFY(task->snapshot.stack);
            const CoroutineStack &stack = *task->snapshot.stack;
            QCOMPARE(stack.awaiting, QStringLiteral("sleep(60)"));
            QVERIFY2(!stack.frames.isEmpty() && stack.frames.first().function == u"waitForever" &&
                         stack.frames.first().line == 3,
                     qPrintable(dump(stack)));
            QVERIFY(task->spec);
            QCOMPARE(task->spec->source, spec.source);
        }
        // Now it is history: a second start does not report it again.
        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery again = store.recover();
        QCOMPARE(again.interrupted, 0);
        QVERIFY(again.interruptedGroups.isEmpty());
        QCOMPARE(again.finished, 1);
        QVERIFY(findTask(again, id));
        QCOMPARE(findTask(again, id)->snapshot.state, TaskState::Interrupted);
    }

    // The store knows no engine: the stacks of running tasks it is pushed (sampled()) are
    // what an interrupted task comes back with after a crash.
    void pushedStackSampleIsWhatACrashedTaskComesBackWith()
    {
        QTemporaryDir data;
        QTemporaryDir crashed;
        TaskSpec spec;
        spec.file = "/x/hang.lua";
        spec.group = "slow";
        TaskSnapshot running;
        running.id = 7;
        running.state = TaskState::Running;
        running.attempt = 1;
        running.submittedAtMs = 1000;
        running.startedAtMs = 1001;
        const auto first = stackOf(awkwardTexts(), 3);
        const auto second = stackOf(awkwardTexts(), 5);
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            submitCopies(store, spec, 7, 1);
            // Sampled before its start was published: not a running task's stack yet.
            store.sampled({StackSample{7, first}});
            store.published(batchOf({running}));
            QVERIFY(store.sync());
            StoreFile file(store.path());
            const QString sql = QStringLiteral("SELECT stack FROM tasks WHERE id = 7");
            QVERIFY(file.value(sql).isNull());
            store.sampled({StackSample{7, first}, StackSample{8, second}}); // 8: unknown
            QVERIFY(store.sync());
            QCOMPARE(dump(StoreCodec::stackFromText(file.value(sql).toString())), dump(first));
            store.sampled({StackSample{7, second}});
            QVERIFY(store.sync());
            copyStore(store.path(), crashed.path()); // what `kill -9` would leave
        }
        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.interrupted, 1);
        QCOMPARE(recovery.interruptedGroups, QStringList{"slow"});
        const RestoredTask *task = findTask(recovery, 7);
        QVERIFY(task);
        QCOMPARE(task->snapshot.state, TaskState::Interrupted);
        QCOMPARE(dump(task->snapshot.stack), dump(second));
        QVERIFY(!findTask(recovery, 8));
    }

    // The engine pushes its journal the stacks of all running tasks in one call a second,
    // only while the journal is set.
    void enginePushesRunningStacksInOneCallWhileAJournalIsSet()
    {
        struct Journal : EngineJournal
        {
            void submitted(const QList<TaskId> &, const QList<std::shared_ptr<const TaskSpec>> &,
                           qint64) override
            {
            }
            void published(const EngineUpdate &) override {}
            void sampled(const QList<StackSample> &stacks) override
            {
                QMutexLocker lock(&mutex);
                calls.append(stacks);
            }
            QList<QList<StackSample>> taken()
            {
                QMutexLocker lock(&mutex);
                return calls;
            }
            QMutex mutex;
            QList<QList<StackSample>> calls;
        } journal;
        ScriptDir dir;
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.setJournal(&journal);
        const QList<TaskId> ids = engine.submit(
            dir.spec("nap.lua", "local function nap()\n  sleep(60)\nend\nnap()\n"), 3);
        // A call that holds all three, each waiting in nap().
        auto allThree = [&] {
            for (const QList<StackSample> &call : journal.taken()) {
                int napping = 0;
                for (const StackSample &sample : call)
                    napping += ids.contains(sample.id) && sample.stack &&
                               sample.stack->awaiting == u"sleep(60)";
                if (napping == 3 && call.size() == 3)
                    return true;
            }
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(allThree(), 10000);
        for (const QList<StackSample> &call : journal.taken())
            QVERIFY(!call.isEmpty());
        engine.setJournal(nullptr);
        const qsizetype calls = journal.taken().size();
        QTest::qWait(2500); // two sample periods: none comes once the journal is unset
        QCOMPARE(journal.taken().size(), calls);
        engine.cancel(ids);
        QTRY_VERIFY(allFinished(engine, ids));
    }

    void logTailOfARunningTaskIsSavedWhileItRuns()
    {
        ScriptDir dir;
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        StoreFile file(store.path());
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.setJournal(&store);
        const TaskId id = engine.submit(
            dir.spec("ticks.lua", "local i = 0\nwhile true do i = i + 1; log('tick', i); "
                                  "sleep(0.002) end\n"));
        auto tail = [&] {
            const QString text =
                file.value(QStringLiteral("SELECT log_tail FROM tasks WHERE id = %1").arg(id))
                    .toString();
            return QJsonDocument::fromJson(text.toUtf8()).toVariant().toStringList();
        };
        // More than 200 lines logged: the saved tail is the last 200, renewed every second.
        QTRY_COMPARE_WITH_TIMEOUT(tail().size(), 200, 10000);
        const QStringList first = tail();
        QTRY_VERIFY_WITH_TIMEOUT(tail() != first, 5000);
        const QStringList lines = tail();
        QCOMPARE(lines.size(), 200);
        const int last = lines.last().section(u' ', 1).toInt();
        QVERIFY(last > first.last().section(u' ', 1).toInt());
        QCOMPARE(lines.first(), QStringLiteral("tick %1").arg(last - 199));
        QCOMPARE(stateOf(engine, id), TaskState::Running);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void shutdownWithARunningTaskWritesItInterrupted()
    {
        ScriptDir dir;
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        StoreFile file(store.path());
        TaskId id = 0;
        auto column = [&](const char *name) {
            return file.value(QStringLiteral("SELECT %1 FROM tasks WHERE id = %2")
                                  .arg(QLatin1String(name))
                                  .arg(id));
        };
        {
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            id = engine.submit(dir.spec("hang.lua", "log('going')\nsleep(60)\n"));
            QTRY_VERIFY(isSuspended(engine, id));
            QTRY_COMPARE(column("state").toString(), QStringLiteral("running"));
        } // the engine's last batch: the task interrupted by the shutdown
        store.sync();
        QCOMPARE(column("state").toString(), QStringLiteral("interrupted"));
        QCOMPARE(column("error").toString(),
                 QStringLiteral("interrupted: Taskdeck stopped while it ran"));
        QVERIFY(column("stack").toString().contains("sleep(60)"));
        QVERIFY(!column("finished_at").isNull());
        QCOMPARE(column("log_tail").toString(), QStringLiteral("[\"going\"]"));
        const QString transitions = column("transitions").toString();
        QVERIFY2(QRegularExpression("^pending@\\d+ running@\\d+ interrupted@\\d+$")
                     .match(transitions)
                     .hasMatch(),
                 qPrintable(transitions));
    }

    void limitsAndPausedGroupsAreKeptAsTheyChange()
    {
        QTemporaryDir data;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            QVERIFY(!store.recover().limits);
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.setMaxRunning(4);
            engine.setGroupLimit("net", 2);
            engine.pauseGroup("net");
            engine.pause();
            engine.flush();
            // On disk as soon as written, without a clean close (what `kill -9` keeps).
            StoreFile file(store.path());
            QTRY_VERIFY(file.value("SELECT value FROM settings WHERE key = 'limits'")
                            .toString()
                            .contains("\"paused_groups\":[\"net\"]"));
            engine.resume();
            engine.flush();
            QTRY_VERIFY(file.value("SELECT value FROM settings WHERE key = 'limits'")
                            .toString()
                            .contains("\"paused\":false"));
        }
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QVERIFY(recovery.limits);
        QCOMPARE(recovery.limits->maxRunning, 4);
        QCOMPARE(recovery.limits->groupLimits.value("net"), 2);
        QCOMPARE(recovery.limits->pausedGroups, QStringList{"net"});
        QVERIFY(!recovery.limits->paused);
        QCOMPARE(recovery.interrupted, 0);
    }

    void tasksAQuitInterruptedComeBackAsAfterACrash()
    {
        ScriptDir dir;
        QTemporaryDir data;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            const TaskId id = engine.submit(dir.spec("hang.lua", "-- @group net\nsleep(60)\n"));
            QTRY_VERIFY(isSuspended(engine, id));
        } // a quit with the task running: the engine's last batch interrupts it
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            const TaskStore::Recovery recovery = store.recover();
            // Told once, and its group paused, as after a crash.
            QCOMPARE(recovery.interrupted, 1);
            QCOMPARE(recovery.interruptedGroups, QStringList{"net"});
        }
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery again = store.recover();
        QCOMPARE(again.interrupted, 0);
        QCOMPARE(again.interruptedGroups, QStringList());
    }

    void damagedStoreIsMovedAsideAndAFreshOneMade_data()
    {
        QTest::addColumn<QByteArray>("content");
        QByteArray noise(64 * 1024, Qt::Uninitialized);
        QRandomGenerator rng(42);
        for (char &c : noise)
            c = char(rng.bounded(256));
        QTest::newRow("random bytes") << noise;
        QTest::newRow("text") << QByteArray("not a database\n");

        // A real store, cut in half.
        QTemporaryDir data;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            TaskSpec spec;
            spec.file = "/x/big.lua";
            spec.source = QByteArray(20000, 'x');
            for (int i = 0; i < 20; ++i) {
                spec.name = QString::number(i); // a spec row each
                recordFinished(store, spec, TaskId(1 + i * 50), 50);
            }
        }
        const QByteArray whole = readAll(data.filePath("taskdeck.db"));
        QVERIFY(whole.size() > 100000);
        QVERIFY(!QFile::exists(data.filePath("taskdeck.db-wal"))); // checkpointed at close
        QTest::newRow("truncated store") << whole.left(whole.size() / 2);
    }

    void damagedStoreIsMovedAsideAndAFreshOneMade()
    {
        QFETCH(QByteArray, content);
        QTemporaryDir data;
        const QString path = data.filePath("taskdeck.db");
        QVERIFY(writeFile(path, content));
        TaskStore store;
        const TaskStore::OpenResult result = store.open(data.path());
        QCOMPARE(result.status, TaskStore::OpenStatus::Recreated);
        QVERIFY(store.isOpen());
        QVERIFY(!result.message.contains(u'\n'));
        const QStringList aside = QDir(data.path()).entryList({"taskdeck.db.corrupt-*"});
        QCOMPARE(aside.size(), 1);
        QVERIFY(QRegularExpression("^taskdeck\\.db\\.corrupt-\\d{8}-\\d{6}$")
                    .match(aside.first())
                    .hasMatch());
        QCOMPARE(readAll(data.filePath(aside.first())), content);
        QVERIFY2(result.message.contains(path) &&
                     result.message.contains(data.filePath(aside.first())),
                 qPrintable(result.message));

        // The fresh store works.
        QCOMPARE(store.recover().tasks.size(), 0);
        TaskSpec spec;
        spec.file = "/x/one.lua";
        recordFinished(store, spec, 1, 3);
        store.sync();
        StoreFile file(path);
        QCOMPARE(file.count("tasks"), 3);
    }

    void emptyFileBecomesANewStore()
    {
        QTemporaryDir data;
        QVERIFY(writeFile(data.filePath("taskdeck.db"), {}));
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        TaskSpec spec;
        spec.file = "/x/one.lua";
        recordFinished(store, spec, 1, 2);
        store.sync();
        QCOMPARE(StoreFile(store.path()).count("tasks"), 2);
    }

    void storeOfANewerTaskdeckIsLeftAlone()
    {
        QTemporaryDir data;
        const QString path = data.filePath("taskdeck.db");
        {
            StoreFile file(path);
            file.value("CREATE TABLE later (x)");
            file.value("PRAGMA user_version = 99");
        }
        const QByteArray content = readAll(path);
        TaskStore store;
        const TaskStore::OpenResult result = store.open(data.path());
        QCOMPARE(result.status, TaskStore::OpenStatus::Failed);
        QVERIFY2(result.message.contains("newer"), qPrintable(result.message));
        QVERIFY(!store.isOpen());
        QCOMPARE(readAll(path), content);
        QCOMPARE(QDir(data.path()).entryList(QDir::Files), QStringList{"taskdeck.db"});
    }

    void unusableLocationFailsAndEverythingElseDoesNothing()
    {
        ScriptDir dir;
        QTemporaryDir parent;
        const QString blocker = parent.filePath("plain-file");
        QVERIFY(writeFile(blocker, "I am a file\n"));
        const QString dataDir = blocker + "/data";
        TaskStore store;
        const TaskStore::OpenResult result = store.open(dataDir);
        QCOMPARE(result.status, TaskStore::OpenStatus::Failed);
        QVERIFY(!store.isOpen());
        QVERIFY2(result.message.startsWith("cannot use " + dataDir + "/taskdeck.db: "),
                 qPrintable(result.message));
        QVERIFY2(result.message.contains(blocker + " is a file"), qPrintable(result.message));
        QVERIFY(result.message.endsWith(
            "; running without a task store (choose another with --data-dir DIR)"));
        QVERIFY(!result.message.contains(u'\n'));
        QCOMPARE(readAll(blocker), QByteArray("I am a file\n"));
        QCOMPARE(QDir(parent.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries),
                 QStringList{"plain-file"});

        // A failed store is a harmless no-op.
        const TaskStore::Recovery recovery = store.recover();
        QVERIFY(recovery.tasks.isEmpty());
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.setJournal(&store);
        const TaskId id = engine.submit(dir.spec("one.lua", "return 1"));
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        store.sync();
        store.forget({id});
    }

    void readOnlyDirectoryFailsAndIsLeftAlone()
    {
        if (geteuid() == 0)
            QSKIP("root writes into read-only directories");
        QTemporaryDir data;
        QVERIFY(QFile::setPermissions(data.path(), QFile::ReadOwner | QFile::ExeOwner));
        TaskStore store;
        const TaskStore::OpenResult result = store.open(data.path());
        QFile::setPermissions(data.path(), QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
        QCOMPARE(result.status, TaskStore::OpenStatus::Failed);
        QVERIFY2(result.message.contains("not writable"), qPrintable(result.message));
        QVERIFY(QDir(data.path()).isEmpty());
    }

    void forgetDeletesRowsAndSpecsNoLongerUsed()
    {
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        TaskSpec spec;
        spec.file = "/x/a.lua";
        recordFinished(store, spec, 1, 3); // spec row 1: tasks 1..3
        spec.file = "/x/b.lua";
        recordFinished(store, spec, 10, 2); // spec row 2: tasks 10, 11
        store.sync();
        StoreFile file(store.path());
        QCOMPARE(file.count("tasks"), 5);
        QCOMPARE(file.count("specs"), 2);

        store.forget({1, 10, 11});
        store.sync();
        QCOMPARE(file.count("tasks"), 2);
        QCOMPARE(file.value("SELECT count(*) FROM tasks WHERE id IN (1, 10, 11)").toInt(), 0);
        QCOMPARE(file.count("specs"), 1);
        QCOMPARE(file.value("SELECT file FROM specs").toString(), QStringLiteral("/x/a.lua"));
    }

    void forgottenTasksStayForgottenAfterARestart()
    {
        QTemporaryDir data;
        const TaskStore::Recovery recovery = recoverAfterForgetting(data.path(), 1);
        QCOMPARE(recovery.tasks.size(), 2);
        QCOMPARE(recovery.tasks[0].snapshot.id, TaskId(2));
        QCOMPARE(recovery.tasks[1].snapshot.id, TaskId(3));
        QCOMPARE(recovery.tasks[0].spec, recovery.tasks[1].spec); // one spec, shared
        QCOMPARE(recovery.tasks[0].snapshot.result.toInteger(), 1);
    }

    void idsOfForgottenTasksAreNeverUsedAgain()
    {
        QTemporaryDir data;
        const TaskStore::Recovery recovery = recoverAfterForgetting(data.path(), 3);
        QCOMPARE(recovery.tasks.size(), 2);
        QCOMPARE(recovery.lastId, TaskId(3));
        Engine engine;
        engine.pause();
        engine.restore(recovery.tasks, recovery.lastId);
        ScriptDir dir;
        QCOMPARE(engine.submit(dir.spec("b.lua", "return 1")), TaskId(4));
    }

    // A submission is on disk within moments, as one row rather than a row per task; a
    // crash before its tasks have rows of their own brings back the whole queue, in order.
    void queueSubmittedJustBeforeACrashComesBackFromItsSubmissionRow()
    {
        ScriptDir dir;
        QTemporaryDir data;
        QTemporaryDir crashed;
        QList<TaskId> expected; // the engine's queue, in the order it would run it
        QHash<TaskId, int> priorities;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            store.recover();
            Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.pause();
            const QList<TaskId> low = engine.submit(dir.spec("low.lua", "return 1"), 1000);
            const QList<TaskId> high =
                engine.submit(named(dir.spec("high.lua", "return 2"), "high", 5), 500);
            engine.moveToTop(low[10]);
            engine.flush();
            StoreFile file(store.path());
            // The moved task has a row of its own; the other 1,499 are in submissions rows.
            QTRY_VERIFY_WITH_TIMEOUT(file.count("submissions") >= 1 && file.count("tasks") == 1,
                                     5000);
            QCOMPARE(file.value("SELECT id FROM tasks").toLongLong(), qint64(low[10]));
            copyStore(store.path(), crashed.path()); // what `kill -9` would leave

            QList<TaskSnapshot> queued = engine.tasks();
            std::sort(queued.begin(), queued.end(), [](const auto &a, const auto &b) {
                return a.priority != b.priority ? a.priority > b.priority : a.sequence < b.sequence;
            });
            for (const TaskSnapshot &s : queued) {
                expected.append(s.id);
                priorities.insert(s.id, s.priority);
            }
            QCOMPARE(expected.first(), low[10]);
            QCOMPARE(expected[1], high.first());
        }

        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.pending, 1500);
        QList<TaskId> listed;
        for (const RestoredTask &task : recovery.tasks) {
            listed.append(task.snapshot.id);
            QCOMPARE(task.snapshot.state, TaskState::Pending);
            QCOMPARE(task.snapshot.priority, priorities.value(task.snapshot.id));
        }
        QCOMPARE(listed, expected);
        QCOMPARE(recovery.tasks[1].snapshot.name, QStringLiteral("high"));
        QCOMPARE(recovery.lastId, TaskId(1500));
        // Recovery gave every submitted task its row, and the submissions rows went.
        StoreFile file(store.path());
        QCOMPARE(file.count("tasks"), 1500);
        QCOMPARE(file.count("submissions"), 0);
        QCOMPARE(file.value("SELECT count(*) FROM tasks WHERE transitions LIKE 'pending@%'"
                            " AND submitted_at IS NOT NULL")
                     .toInt(),
                 1500);
    }

    // Without sync(), a quiet store gives submitted tasks their rows a while later, and a
    // flood of changes right after a submission is written too.
    void submittedTasksGetTheirRowsWhenTheStoreIsQuiet()
    {
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        TaskSpec spec;
        spec.file = "/x/a.lua";
        submitCopies(store, spec, 1, 3);
        recordFinished(store, spec, 4, 5000); // submitted, then 5,000 changes at once
        StoreFile file(store.path());
        QTRY_COMPARE_WITH_TIMEOUT(
            file.value("SELECT count(*) FROM tasks WHERE state = 'succeeded'").toInt(), 5000,
            10000);
        QTRY_COMPARE_WITH_TIMEOUT(file.count("tasks"), 5003, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(file.count("submissions"), 0, 10000);
        QCOMPARE(file.value("SELECT group_concat(sequence) FROM tasks WHERE id <= 3").toString(),
                 QStringLiteral("1,2,3"));
        // Started and finished between two batches, and still seen to run.
        QVERIFY(file.value("SELECT transitions FROM tasks WHERE id = 4")
                    .toString()
                    .contains(QRegularExpression(
                        QStringLiteral("^pending@[0-9]+ running@1000 succeeded@2000$"))));
    }

    // Forgetting a task never lets it come back from a submissions row after a crash.
    void forgottenTaskDoesNotComeBackFromItsSubmission()
    {
        QTemporaryDir data;
        QTemporaryDir crashed;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            TaskSpec spec;
            spec.file = "/x/a.lua";
            submitCopies(store, spec, 1, 3);
            StoreFile file(store.path());
            QTRY_COMPARE_WITH_TIMEOUT(file.count("submissions"), 1, 5000);
            TaskSnapshot done;
            done.id = 2;
            done.state = TaskState::Succeeded;
            done.attempt = 1;
            done.sequence = 2;
            done.finishedAtMs = 2000;
            store.published(batchOf({done}));
            store.forget({2});
            QTRY_VERIFY_WITH_TIMEOUT(file.count("submissions") == 0 && file.count("tasks") == 2,
                                     5000);
            copyStore(store.path(), crashed.path());
        }
        TaskStore store;
        QCOMPARE(store.open(crashed.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.tasks.size(), 2);
        QCOMPARE(recovery.tasks[0].snapshot.id, TaskId(1));
        QCOMPARE(recovery.tasks[1].snapshot.id, TaskId(3));
        QCOMPARE(recovery.lastId, TaskId(3));
    }

    // Damaged submissions rows (not JSON, not arrays, runs without their integers, with an
    // endless count or a spec that is not there) are skipped and counted; everything else
    // comes back.
    void damagedSubmissionsAreSkippedAndTheRestComesBack()
    {
        QTemporaryDir data;
        TaskSpec spec;
        spec.file = "/x/a.lua";
        QString path;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            recordFinished(store, spec, 1, 2);
            store.sync();
            submitCopies(store, spec, 3, 4);
            path = store.path();
            StoreFile file(path);
            QTRY_COMPARE_WITH_TIMEOUT(file.count("submissions"), 1, 5000);
            for (const char *damaged : {"'garbage'", "'5'", "'[\"x\", 7]'", "'[[1, 2]]'",
                                        "'[[100, 10000000000, 1, 1, 0, 1, 1]]'",
                                        "'[[200, 2, 999, 1, 0, 1, 1]]'", "x'00ff'"})
                QVERIFY(file.value(QStringLiteral("INSERT INTO submissions (tasks) VALUES (%1)"
                                                  " RETURNING id")
                                       .arg(QLatin1String(damaged)))
                            .isValid());
        } // closed without sync(): tasks 3-6 are only in their submissions row
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.finished, 2);
        QCOMPARE(recovery.pending, 4);
        QCOMPARE(recovery.tasks.last().snapshot.id, TaskId(6));
        QCOMPARE(recovery.lastId, TaskId(6));
        QVERIFY2(recovery.problem.contains(QStringLiteral("8 damaged record(s)")),
                 qPrintable(recovery.problem));
        StoreFile file(path);
        QCOMPARE(file.count("submissions"), 0);
        QCOMPARE(file.count("tasks"), 6);
    }

    // When the tasks cannot be read back, the problem is named and new tasks still take
    // ids after every stored one (their rows are never overwritten).
    void failedRecoveryStillKeepsStoredIdsFromReuse()
    {
        QTemporaryDir data;
        TaskSpec spec;
        spec.file = "/x/a.lua";
        QString path;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            recordFinished(store, spec, 1, 3);
            store.sync();
            path = store.path();
        }
        {
            StoreFile file(path);
            file.value("UPDATE tasks SET state = 'running' WHERE id = 2");
            file.value("CREATE TRIGGER refuse BEFORE UPDATE ON tasks"
                       " BEGIN SELECT RAISE(ABORT, 'refused'); END");
        }
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QVERIFY2(recovery.problem.contains(QStringLiteral("cannot read back the tasks")),
                 qPrintable(recovery.problem));
        QVERIFY(recovery.tasks.isEmpty());
        QCOMPARE(recovery.lastId, TaskId(3));
    }

    // A store of the first version (no submissions table) is brought up to date in place.
    void storeOfTheFirstVersionGainsTheSubmissionsTable()
    {
        QTemporaryDir data;
        TaskSpec spec;
        spec.file = "/x/a.lua";
        QString path;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            recordFinished(store, spec, 1, 2);
            store.sync();
            path = store.path();
        }
        {
            StoreFile file(path);
            file.value("DROP TABLE submissions");
            file.value("PRAGMA user_version = 1");
            QCOMPARE(file.value("PRAGMA user_version").toInt(), 1);
        }
        TaskStore store;
        const TaskStore::OpenResult opened = store.open(data.path());
        QCOMPARE(opened.status, TaskStore::OpenStatus::Opened);
        QCOMPARE(store.recover().tasks.size(), 2);
        submitCopies(store, spec, 3, 1);
        store.sync();
        StoreFile file(path);
        QCOMPARE(file.value("PRAGMA user_version").toInt(), 3);
        QCOMPARE(file.count("tasks"), 3);
        QCOMPARE(file.count("settings"), 0); // version 3's table, added on the way
    }

    void copiesOfOneSpecShareOneRow()
    {
        ScriptDir dir;
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        {
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.pause();
            engine.submit(dir.spec("one.lua", "return 1"), 1000);
            engine.submit(dir.spec("two.lua", "return 2"));
            QCOMPARE(engine.liveCounts().pending, 1001);
            store.sync();
            StoreFile file(store.path());
            QCOMPARE(file.count("tasks"), 1001);
            QCOMPARE(file.count("specs"), 2);
        }
        store.sync();
        TaskStore next; // both open: WAL lets a second connection read and write
        QCOMPARE(next.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = next.recover();
        QCOMPARE(recovery.pending, 1001);
        QCOMPARE(recovery.tasks.first().spec, recovery.tasks[999].spec);
        QVERIFY(recovery.tasks.first().spec != recovery.tasks.last().spec);
    }

    // Specs copied by value (a spec object per task) are still one row per content, and a
    // spec that differs in anything but its address gets its own.
    void equalSpecsShareOneRowHoweverTheyWereCopied()
    {
        ScriptDir dir;
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskSpec one = dir.spec("one.lua", "return 1");
        TaskSpec withArg = one;
        withArg.args.append({QStringLiteral("k"), QStringLiteral("v")});
        QList<TaskSpec> specs;
        for (int i = 0; i < 300; ++i)
            specs.append(i % 3 == 2 ? withArg : one);
        {
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            engine.pause();
            engine.submit(specs);
            engine.submit(one);
            QCOMPARE(engine.liveCounts().pending, 301); // handed to the store by now
            store.sync();
        }
        StoreFile file(store.path());
        QCOMPARE(file.count("tasks"), 301);
        QCOMPARE(file.count("specs"), 2);
        QCOMPARE(file.value("SELECT count(*) FROM tasks t JOIN specs s ON s.id = t.spec_id"
                            " WHERE s.args LIKE '%\"k\"%'")
                     .toInt(),
                 100);
    }

    // A full disk (a file size limit, the same to SQLite): sync() says that what it was
    // handed is not on disk and why, writeProblem() says so until a write succeeds, and
    // the writer keeps the work and writes it once it can.
    void writeThatFailsIsReportedToSyncAndWrittenOnceItCan()
    {
        QTemporaryDir data;
        TaskSpec small;
        small.file = "/x/small.lua";
        small.source = "return 1";
        TaskSpec big = small;
        big.file = "/x/big.lua";
        big.source = QByteArray(4 * 1024 * 1024, 'x'); // more than a file of 1 MiB holds
        QString path;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            store.recover();
            path = store.path();
            submitCopies(store, small, 1, 2);
            QVERIFY(store.sync());
            QVERIFY(store.writeProblem().isEmpty());
            {
                FileSizeLimit full(1024 * 1024);
                QVERIFY(full.isSet());
                submitCopies(store, big, 3, 4);
                QString problem;
                QVERIFY(!store.sync(&problem));
                QVERIFY2(problem.startsWith(
                             QStringLiteral("cannot write the task store %1: ").arg(path)) &&
                             problem.size() > path.size() + 30,
                         qPrintable(problem));
                QCOMPARE(store.writeProblem(), problem);
                submitCopies(store, small, 7, 1); // still failing, for everything
                QVERIFY(!store.sync());
                QCOMPARE(store.writeProblem(), problem);
            }
            QString problem;
            QVERIFY2(store.sync(&problem), qPrintable(problem));
            QVERIFY(problem.isEmpty());
            QVERIFY(store.writeProblem().isEmpty());
        }
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.pending, 7);
        QCOMPARE(recovery.tasks.size(), 7);
        QCOMPARE(recovery.tasks[2].snapshot.id, TaskId(3));
        QCOMPARE(recovery.tasks[2].spec->source.size(), big.source.size());
    }

    // Without a store there is nothing to write: sync() succeeds and nothing is wrong.
    void storeThatIsNotOpenHasNothingToSync()
    {
        TaskStore store;
        QVERIFY(store.sync());
        QVERIFY(store.writeProblem().isEmpty());
    }
};

QTEST_GUILESS_MAIN(tst_TaskStore)
#include "tst_store.moc"
