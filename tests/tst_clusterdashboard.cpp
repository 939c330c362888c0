// The dashboard on a cluster (issue 13): MainWindow offscreen over a RedisTaskSource, a
// real redis-server on a socket of its own and two `taskdeck worker` processes, compared
// with what `taskdeck ps --json` says.
#include "cluster/redistasksource.h"
#include "countsbar.h"
#include "logpane.h"
#include "mainwindow.h"
#include "noticebar.h"
#include "redisserver.h"
#include "stackpane.h"
#include "store/taskstore.h"
#include "tasktablemodel.h"
#include "taskview.h"
#include "testsupport.h"
#include "workersdock.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QPlainTextEdit>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include <csignal>
#include <memory>

class tst_ClusterDashboard : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();

    void tableAndCountsMatchPsJson();
    void cancelFromWindowReachesRemoteRunningTask();
    void priorityChangeInOneDashboardShowsInAnother();
    void selectedRemoteTaskShowsLiveStackAndLog();
    void workersDockShowsBothWorkersAndALostOne();
    void finishedTasksAreArchivedAndComeBackAsHistory();
    void disconnectSaysSinceWhenAndReconnectsKeepingWhatWasDropped();
    void idleDashboardCostsRedisFewCommands();

private:
    QProcessEnvironment env(const QString &mark = {}) const;
    ProgramRun taskdeck(const QStringList &args, int timeoutMs = 30000) const;
    QProcess *startWorker(const QString &name);
    QList<qint64> submit(const QString &file, const QStringList &extra = {});
    QHash<qint64, QJsonObject> ps();
    std::unique_ptr<RedisTaskSource> makeSource();
    QString redisCli(const QStringList &args) const;

    QString m_bin;
    std::unique_ptr<RedisServer> m_redis;
    QList<QProcess *> m_workers;
    ScriptDir *m_scripts = nullptr;
    QString m_namespace;
    int m_test = 0;
};

void tst_ClusterDashboard::initTestCase()
{
    m_bin = qEnvironmentVariable("TASKDECK_BIN");
    QVERIFY2(QFileInfo(m_bin).isExecutable(), "TASKDECK_BIN must name the taskdeck binary");
    REDIS_SERVER_OR_SKIP(false);
    m_redis = std::make_unique<RedisServer>();
    RedisServer::Options options;
    options.appendOnly = true;
    options.appendFsync = QStringLiteral("always"); // the restart keeps every write
    QVERIFY2(m_redis->start(options), qPrintable(m_redis->errorString()));
}

void tst_ClusterDashboard::init()
{
    m_namespace = QStringLiteral("d%1").arg(++m_test);
    m_scripts = new ScriptDir;
}

void tst_ClusterDashboard::cleanup()
{
    for (QProcess *worker : std::as_const(m_workers)) {
        if (worker->state() != QProcess::NotRunning) {
            worker->kill();
            worker->waitForFinished(5000);
        }
        delete worker;
    }
    m_workers.clear();
    delete m_scripts;
    m_scripts = nullptr;
    if (m_redis && !m_redis->isRunning())
        QVERIFY2(m_redis->restart(), qPrintable(m_redis->errorString()));
}

QProcessEnvironment tst_ClusterDashboard::env(const QString &mark) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("TASKDECK_REDIS"), QStringLiteral("unix://") + m_redis->socketPath());
    env.insert(QStringLiteral("MARK"), mark);
    return env;
}

ProgramRun tst_ClusterDashboard::taskdeck(const QStringList &args, int timeoutMs) const
{
    QStringList all = args;
    all.insert(1, QStringLiteral("--namespace=") + m_namespace);
    return runProgram(m_bin, all, env(), m_scripts->path(), timeoutMs);
}

QProcess *tst_ClusterDashboard::startWorker(const QString &name)
{
    auto *worker = new QProcess;
    worker->setProcessEnvironment(env(name));
    worker->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    worker->start(m_bin, {QStringLiteral("worker"), QStringLiteral("--namespace=") + m_namespace,
                          QStringLiteral("--name"), name, QStringLiteral("--lease"),
                          QStringLiteral("1s"), QStringLiteral("-j"), QStringLiteral("4")});
    worker->waitForStarted();
    m_workers.append(worker);
    return worker;
}

QList<qint64> tst_ClusterDashboard::submit(const QString &file, const QStringList &extra)
{
    const ProgramRun run =
        taskdeck(QStringList{QStringLiteral("submit"), QStringLiteral("--json")} + extra +
                 QStringList{file});
    QList<qint64> ids;
    if (run.exitCode != 0) {
        qWarning() << run.describe();
        return ids;
    }
    for (const QString &line : run.outLines())
        ids.append(QJsonDocument::fromJson(line.toUtf8())
                       .object()
                       .value(QStringLiteral("id"))
                       .toInteger());
    return ids;
}

QHash<qint64, QJsonObject> tst_ClusterDashboard::ps()
{
    const ProgramRun run = taskdeck({QStringLiteral("ps"), QStringLiteral("--json")});
    QHash<qint64, QJsonObject> tasks;
    for (const QString &line : run.outLines()) {
        const QJsonObject task = QJsonDocument::fromJson(line.toUtf8()).object();
        tasks.insert(task.value(QStringLiteral("id")).toInteger(), task);
    }
    return tasks;
}

std::unique_ptr<RedisTaskSource> tst_ClusterDashboard::makeSource()
{
    RedisClient::Options options;
    options.url = m_redis->url();
    options.minBackoffMs = 50;
    options.maxBackoffMs = 300;
    return std::make_unique<RedisTaskSource>(options, m_namespace);
}

QString tst_ClusterDashboard::redisCli(const QStringList &args) const
{
    QProcess cli;
    cli.start(QStringLiteral("redis-cli"),
              QStringList{QStringLiteral("-s"), m_redis->socketPath()} + args);
    cli.waitForFinished(10000);
    return QString::fromUtf8(cli.readAllStandardOutput()).trimmed();
}

// Every row of `window` as "id state worker priority", sorted by id.
static QStringList tableRows(MainWindow &window)
{
    TaskTableModel *model = window.taskModel();
    QMap<TaskId, QString> rows;
    for (int r = 0; r < model->rowCount(); ++r) {
        const TaskTableModel::Row &row = model->row(r);
        rows.insert(row.id, QStringLiteral("%1 %2 %3 %4")
                                .arg(row.id)
                                .arg(taskStateName(row.state))
                                .arg(row.worker)
                                .arg(row.priority));
    }
    return rows.values();
}

static QStringList psRows(const QHash<qint64, QJsonObject> &tasks)
{
    QMap<qint64, QString> rows;
    for (auto it = tasks.cbegin(); it != tasks.cend(); ++it)
        rows.insert(it.key(), QStringLiteral("%1 %2 %3 %4")
                                  .arg(it.key())
                                  .arg(it->value(QStringLiteral("state")).toString())
                                  .arg(it->value(QStringLiteral("worker")).toString())
                                  .arg(it->value(QStringLiteral("priority")).toInt()));
    return rows.values();
}

void tst_ClusterDashboard::tableAndCountsMatchPsJson()
{
    const QString quick = m_scripts->write(QStringLiteral("quick.lua"), "return 1\n");
    const QString fails = m_scripts->write(QStringLiteral("fails.lua"), "error('no')\n");
    const QString slow = m_scripts->write(QStringLiteral("slow.lua"), "sleep(60)\n");
    QCOMPARE(submit(quick, {QStringLiteral("--repeat"), QStringLiteral("20")}).size(), 20);
    QCOMPARE(submit(fails, {QStringLiteral("--repeat"), QStringLiteral("3")}).size(), 3);
    auto source = makeSource();
    MainWindow window(source.get());
    source->start();
    QVERIFY(!window.taskView()->isColumnHidden(TaskTableModel::Worker));
    startWorker(QStringLiteral("w1"));
    startWorker(QStringLiteral("w2"));
    QCOMPARE(submit(slow, {QStringLiteral("--repeat"), QStringLiteral("2")}).size(), 2);
    // Everything has settled: 23 ended, the two slow ones running.
    QTRY_VERIFY_WITH_TIMEOUT(source->counts().running == 2 && source->counts().pending == 0, 60000);
    QHash<qint64, QJsonObject> tasks = ps();
    QTRY_COMPARE_WITH_TIMEOUT(tableRows(window), psRows(tasks), 10000);
    int succeeded = 0, failed = 0, running = 0;
    QSet<QString> workers;
    for (const QJsonObject &t : std::as_const(tasks)) {
        const QString state = t.value(QStringLiteral("state")).toString();
        succeeded += state == u"succeeded";
        failed += state == u"failed";
        running += state == u"running";
        workers.insert(t.value(QStringLiteral("worker")).toString());
    }
    const EngineCounts counts = source->counts();
    QCOMPARE(counts.succeeded, succeeded);
    QCOMPARE(counts.failed, failed);
    QCOMPARE(counts.running, running);
    QCOMPARE(counts.succeeded, 20);
    QVERIFY(workers.contains(QStringLiteral("w1")) || workers.contains(QStringLiteral("w2")));
}

void tst_ClusterDashboard::cancelFromWindowReachesRemoteRunningTask()
{
    const QString slow = m_scripts->write(QStringLiteral("slow.lua"),
                                          "local ok, e = pcall(sleep, 60)\nlog('cleaned up')\n"
                                          "error(e)\n");
    const QList<qint64> ids = submit(slow);
    QCOMPARE(ids.size(), 1);
    auto source = makeSource();
    MainWindow window(source.get());
    source->start();
    startWorker(QStringLiteral("w1"));
    startWorker(QStringLiteral("w2"));
    const TaskId id = TaskId(ids[0]);
    QTRY_VERIFY_WITH_TIMEOUT(window.taskModel()->rowOf(id) >= 0 &&
                                 window.taskModel()->row(window.taskModel()->rowOf(id)).state ==
                                     TaskState::Running,
                             30000);
    QVERIFY(window.taskView()->selectTask(id));
    window.taskView()->cancelSelected();
    QTRY_COMPARE_WITH_TIMEOUT(ps().value(ids[0]).value(QStringLiteral("state")).toString(),
                              QStringLiteral("cancelled"), 20000);
    QTRY_COMPARE_WITH_TIMEOUT(window.taskModel()->row(window.taskModel()->rowOf(id)).state,
                              TaskState::Cancelled, 10000);
}

void tst_ClusterDashboard::priorityChangeInOneDashboardShowsInAnother()
{
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--pause")}).exitCode, 0);
    const QString quick = m_scripts->write(QStringLiteral("quick.lua"), "return 1\n");
    const QList<qint64> ids = submit(quick, {QStringLiteral("--repeat"), QStringLiteral("3")});
    QCOMPARE(ids.size(), 3);
    auto a = makeSource();
    auto b = makeSource();
    MainWindow windowA(a.get());
    MainWindow windowB(b.get());
    a->start();
    b->start();
    const TaskId id = TaskId(ids[1]);
    QTRY_VERIFY_WITH_TIMEOUT(windowA.taskModel()->rowOf(id) >= 0, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(windowB.taskModel()->rowOf(id) >= 0, 20000);
    // An edit in place in A's table.
    TaskTableModel *model = windowA.taskModel();
    QVERIFY(model->setData(model->index(model->rowOf(id), TaskTableModel::Priority), 7));
    QTRY_COMPARE_WITH_TIMEOUT(windowB.taskModel()->row(windowB.taskModel()->rowOf(id)).priority, 7,
                              10000);
    QCOMPARE(ps().value(ids[1]).value(QStringLiteral("priority")).toInt(), 7);
    // Limits from A reach B too (pause is the cluster's).
    QTRY_VERIFY_WITH_TIMEOUT(b->limits().paused, 10000);
    a->setPaused(false);
    QTRY_VERIFY_WITH_TIMEOUT(!b->limits().paused, 10000);
}

void tst_ClusterDashboard::selectedRemoteTaskShowsLiveStackAndLog()
{
    const QString file = m_scripts->write(QStringLiteral("chatty.lua"),
                                          "for i = 1, 600 do log('line ' .. i) sleep(0.1) end\n");
    const QList<qint64> ids = submit(file);
    QCOMPARE(ids.size(), 1);
    auto source = makeSource();
    MainWindow window(source.get());
    source->start();
    startWorker(QStringLiteral("w1"));
    const TaskId id = TaskId(ids[0]);
    QTRY_VERIFY_WITH_TIMEOUT(window.taskModel()->rowOf(id) >= 0 &&
                                 window.taskModel()->row(window.taskModel()->rowOf(id)).state ==
                                     TaskState::Running,
                             30000);
    QTRY_VERIFY(window.taskView()->selectTask(id));
    // Its live stack, from its worker: the main coroutine awaiting sleep.
    QTRY_VERIFY_WITH_TIMEOUT(window.stackPane()->tree()->topLevelItemCount() > 0, 15000);
    QTRY_VERIFY_WITH_TIMEOUT(
        window.stackPane()->tree()->topLevelItem(0)->text(0).contains(QStringLiteral("sleep")) ||
            window.stackPane()->tree()->topLevelItem(0)->text(1).contains(QStringLiteral("sleep")),
        15000);
    // Its log, growing while it is watched.
    QTRY_VERIFY_WITH_TIMEOUT(
        window.logPane()->view()->toPlainText().contains(QStringLiteral("line 5")), 15000);
    const int before = window.logPane()->view()->blockCount();
    QTRY_VERIFY_WITH_TIMEOUT(window.logPane()->view()->blockCount() > before + 5, 15000);
    // Unwatched: workers are no longer asked for its log.
    window.taskView()->setCurrentIndex(QModelIndex());
    QTRY_VERIFY(source->watched().isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(
        redisCli({QStringLiteral("EXISTS"), m_namespace + QStringLiteral(":watched")}) ==
            QStringLiteral("0"),
        20000);
}

void tst_ClusterDashboard::workersDockShowsBothWorkersAndALostOne()
{
    const QString slow = m_scripts->write(QStringLiteral("slow.lua"), "sleep(60)\n");
    auto source = makeSource();
    MainWindow window(source.get());
    WorkersDock dock(source.get());
    source->start();
    startWorker(QStringLiteral("w1"));
    QProcess *w2 = startWorker(QStringLiteral("w2"));
    QTRY_COMPARE_WITH_TIMEOUT(dock.table()->topLevelItemCount(), 2, 20000);
    QCOMPARE(dock.table()->topLevelItem(0)->text(WorkersDock::Name), QStringLiteral("w1"));
    QCOMPARE(dock.table()->topLevelItem(1)->text(WorkersDock::Name), QStringLiteral("w2"));
    QCOMPARE(dock.table()->topLevelItem(1)->text(WorkersDock::Running), QStringLiteral("0/4"));
    QCOMPARE(submit(slow, {QStringLiteral("--repeat"), QStringLiteral("8")}).size(), 8);
    QTRY_COMPARE_WITH_TIMEOUT(dock.table()->topLevelItem(1)->text(WorkersDock::Running),
                              QStringLiteral("4/4"), 20000);
    w2->kill(); // its lease runs out; the reaper gives its tasks back
    QTRY_VERIFY_WITH_TIMEOUT(dock.table()
                                 ->topLevelItem(1)
                                 ->text(WorkersDock::Status)
                                 .contains(QStringLiteral("4 task(s) back in the queue")),
                             30000);
    QCOMPARE(dock.table()->topLevelItem(0)->text(WorkersDock::Status), QStringLiteral("alive"));
}

void tst_ClusterDashboard::finishedTasksAreArchivedAndComeBackAsHistory()
{
    QTemporaryDir dir;
    const QString quick = m_scripts->write(QStringLiteral("quick.lua"), "log('hi')\nreturn 5\n");
    const QList<qint64> ids = submit(quick, {QStringLiteral("--repeat"), QStringLiteral("3")});
    QCOMPARE(ids.size(), 3);
    startWorker(QStringLiteral("w1"));
    {
        TaskStore store;
        QVERIFY(store.open(dir.path()).message.isEmpty());
        store.recover();
        auto source = makeSource();
        source->setStore(&store);
        MainWindow window(source.get());
        source->start();
        QTRY_COMPARE_WITH_TIMEOUT(source->counts().succeeded, 3, 30000);
        QTest::qWait(500); // the definitions are read for the archive
        QVERIFY(store.sync());
        source->setStore(nullptr);
    }
    // Redis forgets them (retention); the archive still has them, Re-run included.
    const QString forgotten = QString::number(ids[0]);
    for (const char *hash : {":task", ":spec", ":out"})
        redisCli({QStringLiteral("HDEL"), m_namespace + QLatin1String(hash), forgotten});
    redisCli({QStringLiteral("ZREM"), m_namespace + QStringLiteral(":tasks"), forgotten});
    TaskStore store;
    QVERIFY(store.open(dir.path()).message.isEmpty());
    const TaskStore::Recovery recovery = store.recover();
    QCOMPARE(recovery.tasks.size(), 3);
    auto source = makeSource();
    source->addHistory(recovery.tasks);
    MainWindow window(source.get());
    source->start();
    const TaskId id = TaskId(ids[0]);
    QTRY_VERIFY_WITH_TIMEOUT(source->isLoaded(), 20000);
    QTRY_VERIFY(window.taskModel()->rowOf(id) >= 0);
    QCOMPARE(window.taskModel()->row(window.taskModel()->rowOf(id)).state, TaskState::Succeeded);
    QList<TaskId> rerun;
    source->rerun({id}, this, [&rerun](const QList<TaskId> &ids) { rerun = ids; });
    QTRY_COMPARE_WITH_TIMEOUT(rerun.size(), 1, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(
        ps().value(qint64(rerun[0])).value(QStringLiteral("state")).toString(),
        QStringLiteral("succeeded"), 30000);
}

void tst_ClusterDashboard::disconnectSaysSinceWhenAndReconnectsKeepingWhatWasDropped()
{
    auto source = makeSource();
    MainWindow window(source.get());
    source->start();
    QTRY_VERIFY_WITH_TIMEOUT(source->isLoaded(), 20000);
    QVERIFY(window.noticeBar()->errors().isEmpty());
    m_redis->kill();
    QTRY_VERIFY_WITH_TIMEOUT(!window.noticeBar()->errors().isEmpty(), 20000);
    QVERIFY2(window.noticeBar()->errors().constFirst().contains(QStringLiteral("since")),
             qPrintable(window.noticeBar()->errors().constFirst()));
    QCOMPARE(source->status(), TaskSourceStatus::Disconnected);
    // A file dropped meanwhile is queued (and said so), then submitted once Redis is back.
    const QString quick = m_scripts->write(QStringLiteral("later.lua"), "return 'late'\n");
    QCOMPARE(window.submitFiles({quick}), 1);
    QTRY_VERIFY(window.noticeBar()->notices().join(u'\n').contains(QStringLiteral("once it is "
                                                                                  "back")));
    QVERIFY2(m_redis->restart(), qPrintable(m_redis->errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(window.noticeBar()->errors().isEmpty(), 20000);
    QCOMPARE(source->status(), TaskSourceStatus::Connected);
    QTRY_COMPARE_WITH_TIMEOUT(source->counts().pending, 1, 20000);
    bool found = false;
    for (const QJsonObject &t : ps())
        found = found || t.value(QStringLiteral("file")).toString() == quick;
    QVERIFY(found);
}

void tst_ClusterDashboard::idleDashboardCostsRedisFewCommands()
{
    const QString quick = m_scripts->write(QStringLiteral("quick.lua"), "return 1\n");
    QCOMPARE(submit(quick, {QStringLiteral("--repeat"), QStringLiteral("500")}).size(), 500);
    auto source = makeSource();
    MainWindow window(source.get());
    source->start();
    QTRY_VERIFY_WITH_TIMEOUT(source->isLoaded() && window.taskModel()->rowCount() == 500, 20000);
    QTest::qWait(500);
    const auto calls = [this] {
        qint64 total = 0;
        for (const QString &line :
             redisCli({QStringLiteral("INFO"), QStringLiteral("commandstats")}).split(u'\n')) {
            const qsizetype at = line.indexOf(QStringLiteral("calls="));
            if (at >= 0)
                total += line.mid(at + 6).section(u',', 0, 0).toLongLong();
        }
        return total;
    };
    const qint64 before = calls();
    QTest::qWait(6000);
    const qint64 used = calls() - before - 1; // the INFO itself
    // Workers poll (a few commands per 2 s), an XREAD per 5 s: never a poll of 500 tasks.
    QVERIFY2(used < 6 * 5, qPrintable(QString::number(used)));
}

QTEST_MAIN(tst_ClusterDashboard)
#include "tst_clusterdashboard.moc"
