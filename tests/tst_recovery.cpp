// Nothing lost across restarts: the real dashboard (offscreen) is driven from the command
// line, killed with SIGKILL mid-run, started again on the same data directory, and must
// show every task as it was: results, errors, pending order and priorities, and the tasks
// that were running as interrupted with their last stack and their group paused.
#include "testsupport.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRandomGenerator>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTest>

namespace {

QString binary()
{
    return qEnvironmentVariable("TASKDECK_BIN");
}

using Result = ProgramRun;

// One Taskdeck "home": its data directory, and settings and XDG folders of its own so
// that a test never reads or writes the user's.
class Home
{
public:
    Home()
    {
        m_env = QProcessEnvironment::systemEnvironment();
        m_env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        m_env.insert(QStringLiteral("HOME"), m_root.path());
        m_env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_root.filePath(QStringLiteral("config")));
        m_env.insert(QStringLiteral("XDG_DATA_HOME"), m_root.filePath(QStringLiteral("data")));
        m_env.insert(QStringLiteral("XDG_RUNTIME_DIR"), m_root.path());
    }
    ~Home() { stopDashboard(); }

    QString dataDir() const { return m_root.filePath(QStringLiteral("store")); }
    QString dbPath() const { return dataDir() + QStringLiteral("/taskdeck.db"); }

    Result run(const QStringList &arguments, int timeoutMs = 30000) const
    {
        return runProgram(binary(), arguments, m_env, {}, timeoutMs);
    }
    Result client(const QString &command, const QStringList &arguments = {}) const
    {
        return run(QStringList{command, QStringLiteral("--data-dir"), dataDir()} + arguments);
    }

    // Starts the dashboard and waits until it answers on its socket.
    bool startDashboard()
    {
        m_dashboard = std::make_unique<QProcess>();
        m_dashboard->setProcessEnvironment(m_env);
        m_dashboard->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_dashboard->start(binary(), {QStringLiteral("--data-dir"), dataDir()});
        if (!m_dashboard->waitForStarted())
            return false;
        QElapsedTimer clock;
        clock.start();
        while (clock.elapsed() < 30000) {
            if (m_dashboard->state() == QProcess::NotRunning)
                return false;
            if (client(QStringLiteral("ps")).exitCode == 0)
                return true;
            QTest::qWait(50);
        }
        return false;
    }
    void killDashboard()
    {
        if (!m_dashboard)
            return;
        m_dashboard->kill(); // SIGKILL: no chance to save anything more
        m_dashboard->waitForFinished();
        m_dashboard.reset();
    }
    void stopDashboard()
    {
        if (!m_dashboard)
            return;
        m_dashboard->terminate();
        if (!m_dashboard->waitForFinished(20000)) {
            m_dashboard->kill();
            m_dashboard->waitForFinished();
        }
        m_dashboard.reset();
    }

    // Every task `ps --json` lists, by id.
    QHash<qint64, QJsonObject> tasks() const
    {
        QHash<qint64, QJsonObject> byId;
        const Result ps =
            client(QStringLiteral("ps"), {QStringLiteral("--json"), QStringLiteral("--stacks")});
        for (const QByteArray &line : ps.out.split('\n')) {
            const QJsonObject task = QJsonDocument::fromJson(line).object();
            if (!task.isEmpty())
                byId.insert(task.value(QStringLiteral("id")).toInteger(), task);
        }
        return byId;
    }

    // Submits and returns the ids the running instance acknowledged.
    QList<qint64> submit(const QStringList &arguments) const
    {
        const Result r =
            client(QStringLiteral("submit"), QStringList{QStringLiteral("--json")} + arguments);
        QList<qint64> ids;
        for (const QByteArray &line : r.out.split('\n')) {
            const QJsonObject reply = QJsonDocument::fromJson(line).object();
            for (const QJsonValue &id : reply.value(QStringLiteral("ids")).toArray())
                ids.append(id.toInteger());
        }
        if (ids.isEmpty())
            qWarning("submit gave no ids: %s", qPrintable(r.describe()));
        return ids;
    }

private:
    QTemporaryDir m_root;
    QProcessEnvironment m_env;
    std::unique_ptr<QProcess> m_dashboard;
};

QString state(const QJsonObject &task)
{
    return task.value(QStringLiteral("state")).toString();
}

// The function names on a JSON stack, innermost first, children after.
QStringList functions(const QJsonValue &stack)
{
    QStringList names;
    const QJsonObject object = stack.toObject();
    for (const QJsonValue &frame : object.value(QStringLiteral("frames")).toArray())
        names.append(frame.toObject().value(QStringLiteral("function")).toString());
    for (const QJsonValue &child : object.value(QStringLiteral("children")).toArray())
        names += functions(child);
    return names;
}

QString awaiting(const QJsonValue &stack)
{
    return stack.toObject().value(QStringLiteral("awaiting")).toString();
}

} // namespace

class TestRecovery : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY2(QFileInfo(binary()).isExecutable(), "TASKDECK_BIN must name the binary");
    }

    void killNineLosesNothingAndRunningTasksComeBackInterrupted()
    {
        ScriptDir scripts;
        const QString ok = scripts.write(QStringLiteral("ok.lua"), "log('fine')\nreturn 7\n");
        const QString bad =
            scripts.write(QStringLiteral("bad.lua"), "error('broken on purpose')\n");
        const QString sleeper =
            scripts.write(QStringLiteral("sleeper.lua"), "local function nap()\n"
                                                         "  log('about to sleep')\n"
                                                         "  sleep(600)\n"
                                                         "end\n"
                                                         "nap()\n");
        const QString later = scripts.write(QStringLiteral("later.lua"), "return 'later'\n");

        Home home;
        QVERIFY(home.startDashboard());
        const QList<qint64> done = home.submit({ok, bad});
        QCOMPARE(done.size(), 2);
        QTRY_VERIFY_WITH_TIMEOUT(state(home.tasks().value(done[0])) == u"succeeded" &&
                                     state(home.tasks().value(done[1])) == u"failed",
                                 20000);

        // The dashboard runs 16 tasks at once by default: 16 sleepers fill it, so the
        // tasks submitted after them stay pending, in priority order.
        const QList<qint64> sleepers =
            home.submit({QStringLiteral("--repeat"), QStringLiteral("16"), sleeper});
        QCOMPARE(sleepers.size(), 16);
        QTRY_VERIFY_WITH_TIMEOUT(state(home.tasks().value(sleepers.last())) == u"running", 20000);
        const QList<qint64> low =
            home.submit({QStringLiteral("--priority"), QStringLiteral("1"), later});
        const QList<qint64> high =
            home.submit({QStringLiteral("--priority"), QStringLiteral("5"), later});
        QCOMPARE(low.size(), 1);
        QCOMPARE(high.size(), 1);

        // The engine pushes its store the live stacks every second: wait until the
        // sleepers' is saved.
        {
            const QString connection = QStringLiteral("peek");
            {
                QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
                db.setDatabaseName(home.dbPath());
                db.setConnectOptions(QStringLiteral("QSQLITE_OPEN_READONLY"));
                QVERIFY(db.open());
                QTRY_VERIFY_WITH_TIMEOUT(
                    [&] {
                        QSqlQuery q(db);
                        q.prepare(QStringLiteral("SELECT stack FROM tasks WHERE id = ?"));
                        q.addBindValue(sleepers.first());
                        return q.exec() && q.next() && q.value(0).toString().contains(u"nap");
                    }(),
                    20000);
            }
            QSqlDatabase::removeDatabase(connection);
        }

        home.killDashboard();
        QVERIFY(home.startDashboard());
        const QHash<qint64, QJsonObject> after = home.tasks();

        const QJsonObject okTask = after.value(done[0]);
        QCOMPARE(state(okTask), QStringLiteral("succeeded"));
        QCOMPARE(okTask.value(QStringLiteral("result")).toInt(), 7);
        const QJsonObject badTask = after.value(done[1]);
        QCOMPARE(state(badTask), QStringLiteral("failed"));
        QVERIFY2(badTask.value(QStringLiteral("error")).toString().contains(u"broken on purpose"),
                 qPrintable(badTask.value(QStringLiteral("error")).toString()));

        for (qint64 id : sleepers) {
            const QJsonObject task = after.value(id);
            QCOMPARE(state(task), QStringLiteral("interrupted"));
            const QJsonValue stack = task.value(QStringLiteral("stack"));
            QVERIFY2(functions(stack).contains(QStringLiteral("nap")),
                     QJsonDocument(stack.toObject()).toJson().constData());
            QVERIFY2(awaiting(stack).startsWith(u"sleep("),
                     QJsonDocument(stack.toObject()).toJson().constData());
        }

        // Pending tasks are back, with their priorities, and do not start while their
        // group is paused for the user to decide about the interrupted ones.
        QCOMPARE(state(after.value(low[0])), QStringLiteral("pending"));
        QCOMPARE(state(after.value(high[0])), QStringLiteral("pending"));
        QCOMPARE(after.value(low[0]).value(QStringLiteral("priority")).toInt(), 1);
        QCOMPARE(after.value(high[0]).value(QStringLiteral("priority")).toInt(), 5);

        // New ids continue after the old ones.
        const QList<qint64> fresh = home.submit({ok});
        QCOMPARE(fresh.size(), 1);
        QVERIFY(fresh[0] > high[0]);
        home.stopDashboard();
    }

    void killNineAtRandomMomentsKeepsEveryAcknowledgedTask()
    {
        ScriptDir scripts;
        const QString quick =
            scripts.write(QStringLiteral("quick.lua"), "for i = 1, 3 do log('line ' .. i) end\n"
                                                       "sleep(0.01)\nreturn task.id\n");
        Home home;
        QSet<qint64> acknowledged;
        auto *random = QRandomGenerator::global();
        for (int round = 0; round < 4; ++round) {
            QVERIFY2(home.startDashboard(), qPrintable(QStringLiteral("round %1").arg(round)));
            const QHash<qint64, QJsonObject> seen = home.tasks();
            for (qint64 id : std::as_const(acknowledged))
                QVERIFY2(
                    seen.contains(id),
                    qPrintable(QStringLiteral("task %1 lost before round %2").arg(id).arg(round)));
            for (const qint64 id :
                 home.submit({QStringLiteral("--repeat"), QStringLiteral("50"), quick}))
                acknowledged.insert(id);
            QTest::qWait(int(random->bounded(400)));
            home.killDashboard();
        }
        QVERIFY(home.startDashboard());
        const QHash<qint64, QJsonObject> last = home.tasks();
        QCOMPARE(acknowledged.size(), 200);
        for (qint64 id : std::as_const(acknowledged))
            QVERIFY2(last.contains(id), qPrintable(QStringLiteral("task %1 lost").arg(id)));
        home.stopDashboard();

        // And the file itself is sound.
        {
            QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("check"));
            db.setDatabaseName(home.dbPath());
            QVERIFY(db.open());
            QSqlQuery q(db);
            QVERIFY(q.exec(QStringLiteral("PRAGMA integrity_check")) && q.next());
            QCOMPARE(q.value(0).toString(), QStringLiteral("ok"));
        }
        QSqlDatabase::removeDatabase(QStringLiteral("check"));
    }
};

QTEST_GUILESS_MAIN(TestRecovery)
#include "tst_recovery.moc"
