// The task table model (SPEC section 7): fed by engine batches with a bounded number of
// signals, filtered and sorted by the proxy, checked throughout by QAbstractItemModelTester.
#include "statestyle.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"

#include <QAbstractItemModelTester>
#include <QDateTime>
#include <QIcon>
#include <QJsonObject>
#include <QMimeData>
#include <QPalette>
#include <QSignalSpy>
#include <QTest>

#include <cmath>

namespace {

TaskSnapshot task(TaskId id, TaskState state = TaskState::Pending, int priority = 0,
                  const QString &group = QStringLiteral("default"))
{
    TaskSnapshot t;
    t.id = id;
    t.name = QStringLiteral("task %1").arg(id);
    t.file = QStringLiteral("/scripts/t%1.lua").arg(id);
    t.group = group;
    t.priority = priority;
    t.state = state;
    if (state != TaskState::Pending) {
        t.attempt = 1;
        t.startedAtMs = 1000;
    }
    if (isFinished(state))
        t.finishedAtMs = 3500;
    return t;
}

EngineUpdate batch(const QList<TaskSnapshot> &changed)
{
    EngineUpdate update;
    update.changed = changed;
    return update;
}

EngineUpdate pendingTasks(TaskId first, int count)
{
    EngineUpdate update;
    for (int i = 0; i < count; ++i)
        update.changed.append(task(first + TaskId(i)));
    return update;
}

QString cell(const QAbstractItemModel &model, int row, int column)
{
    return model.index(row, column).data().toString();
}

// WCAG's contrast ratio of two colours (1 to 21).
double contrast(const QColor &a, const QColor &b)
{
    const auto luminance = [](const QColor &c) {
        const auto channel = [](double v) {
            return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
        };
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) +
               0.0722 * channel(c.blueF());
    };
    const double la = luminance(a);
    const double lb = luminance(b);
    return (qMax(la, lb) + 0.05) / (qMin(la, lb) + 0.05);
}

QPalette paletteOn(const QColor &base, const QColor &text)
{
    QPalette palette;
    palette.setColor(QPalette::Base, base);
    palette.setColor(QPalette::Window, base);
    palette.setColor(QPalette::Text, text);
    palette.setColor(QPalette::WindowText, text);
    palette.setColor(QPalette::PlaceholderText, text);
    return palette;
}

} // namespace

class tst_TaskTableModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void newTasksArriveInOneRowsInserted()
    {
        TaskTableModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        model.applyUpdate(pendingTasks(1, 50));
        QCOMPARE(inserted.size(), 1);
        QCOMPARE(inserted[0][1].toInt(), 0);
        QCOMPARE(inserted[0][2].toInt(), 49);
        QCOMPARE(model.rowCount(), 50);
        QCOMPARE(model.rowOf(7), 6);
        QCOMPARE(cell(model, 6, TaskTableModel::Name), QStringLiteral("task 7"));
        QCOMPARE(cell(model, 6, TaskTableModel::State), QStringLiteral("pending"));
    }

    void changesEmitOneDataChangedPerRangeOfRows()
    {
        TaskTableModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.applyUpdate(pendingTasks(1, 200));
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        // Rows 10..14 (ids 11..15) and row 120 (id 121) start running.
        QList<TaskSnapshot> started;
        for (TaskId id : {13, 11, 15, 12, 14, 121})
            started.append(task(id, TaskState::Running));
        model.applyUpdate(batch(started));
        QCOMPARE(inserted.size(), 0);
        // Two ranges, then the queue places of the tasks still pending (they moved up).
        QCOMPARE(changed.size(), 3);
        QCOMPARE(changed[2][0].value<QModelIndex>().column(), int(TaskTableModel::QueuePosition));
        QCOMPARE(changed[2][1].value<QModelIndex>().column(), int(TaskTableModel::QueuePosition));
        const auto topLeft = changed[0][0].value<QModelIndex>();
        const auto bottomRight = changed[0][1].value<QModelIndex>();
        QCOMPARE(topLeft.row(), 10);
        QCOMPARE(bottomRight.row(), 14);
        QVERIFY(topLeft.column() <= TaskTableModel::State);
        QVERIFY(bottomRight.column() >= TaskTableModel::Started);
        QCOMPARE(changed[1][0].value<QModelIndex>().row(), 120);
        QCOMPARE(cell(model, 12, TaskTableModel::State), QStringLiteral("running"));
        QCOMPARE(cell(model, 12, TaskTableModel::Attempt), QStringLiteral("1"));
    }

    void progressAloneTouchesOnlyTheProgressColumn()
    {
        TaskTableModel model;
        model.applyUpdate(batch({task(1, TaskState::Running)}));
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        TaskSnapshot t = task(1, TaskState::Running);
        t.progress = 0.25;
        t.status = QStringLiteral("a quarter");
        model.applyUpdate(batch({t}));
        QCOMPARE(changed.size(), 1);
        QCOMPARE(changed[0][0].value<QModelIndex>().column(), int(TaskTableModel::Progress));
        // The status shows as the running task's one-line result.
        QCOMPARE(changed[0][1].value<QModelIndex>().column(), int(TaskTableModel::Result));
        QCOMPARE(
            model.index(0, TaskTableModel::Progress).data(TaskTableModel::ProgressRole).toDouble(),
            0.25);
        QCOMPARE(cell(model, 0, TaskTableModel::Progress), QStringLiteral("25%"));
        QCOMPARE(cell(model, 0, TaskTableModel::Result), QStringLiteral("a quarter"));
        // The same snapshot again changes nothing.
        model.applyUpdate(batch({t}));
        QCOMPARE(changed.size(), 1);
    }

    void scatteredChangesAreBoundedByTheBatch()
    {
        TaskTableModel model;
        model.applyUpdate(pendingTasks(1, 10000));
        QTRY_COMPARE(model.rowCount(), 10000);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        // 30 runs: one signal each.
        QList<TaskSnapshot> started;
        for (TaskId id = 1; id <= 3000; id += 100)
            started.append(task(id, TaskState::Running));
        model.applyUpdate(batch(started));
        // Plus one over the queue column: the tasks behind them moved up.
        QCOMPARE(changed.size(), 31);
        QCOMPARE(changed.last()[0].value<QModelIndex>().column(),
                 int(TaskTableModel::QueuePosition));
        // 100 runs: one signal over them all (and the queue column's).
        changed.clear();
        started.clear();
        for (TaskId id = 5; id <= 10000; id += 100)
            started.append(task(id, TaskState::Succeeded));
        model.applyUpdate(batch(started));
        QCOMPARE(changed.size(), 2);
        QCOMPARE(changed[0][0].value<QModelIndex>().row(), 4);
        QCOMPARE(changed[0][1].value<QModelIndex>().row(), 9904);
        QCOMPARE(cell(model, 9904, TaskTableModel::State), QStringLiteral("succeeded"));
    }

    void aLargeBatchIsInsertedOverSeveralTurns()
    {
        TaskTableModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        const int slice = 1000;
        model.setInsertSlice(slice, 1000);
        const int total = slice * 2 + 7;
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        model.applyUpdate(pendingTasks(1, total));
        QCOMPARE(model.rowCount(), slice);
        QCOMPARE(model.queuedCount(), total - slice);
        QCOMPARE(model.rowOf(TaskId(total)), -1);
        // News of a task still queued is kept, and so is the order of later tasks.
        model.applyUpdate(
            batch({task(TaskId(total), TaskState::Running), task(TaskId(total + 1))}));
        QTRY_COMPARE(model.rowCount(), total + 1);
        QCOMPARE(inserted.size(), 3); // 1000, 1000, then the last 8
        QCOMPARE(model.queuedCount(), 0);
        QCOMPARE(model.rowOf(TaskId(total)), total - 1);
        QCOMPARE(model.row(total - 1).state, TaskState::Running);
        QCOMPARE(model.rowOf(TaskId(total + 1)), total);
    }

    void resultOrErrorIsOneLine()
    {
        TaskTableModel model;
        TaskSnapshot ok = task(1, TaskState::Succeeded);
        ok.result = QJsonObject{{QStringLiteral("n"), 3}};
        TaskSnapshot failed = task(2, TaskState::Failed);
        failed.error = QStringLiteral("t.lua:3: boom\nstack traceback:\n\t[C]: in ?");
        model.applyUpdate(batch({ok, failed}));
        QCOMPARE(cell(model, 0, TaskTableModel::Result), QStringLiteral("{\"n\":3}"));
        QCOMPARE(cell(model, 1, TaskTableModel::Result), QStringLiteral("t.lua:3: boom"));
        QCOMPARE(model.index(1, TaskTableModel::Result).data(Qt::ToolTipRole).toString(),
                 failed.error);
        QCOMPARE(cell(model, 1, TaskTableModel::Duration), QStringLiteral("2.5 s"));
    }

    void runningDurationAndCancelCountdownFollowTheClock()
    {
        qint64 now = 11000;
        TaskTableModel model;
        model.setClock([&now] { return now; });
        model.setGracePeriodMs(5000);
        model.applyUpdate(batch({task(1, TaskState::Running)}));
        QCOMPARE(cell(model, 0, TaskTableModel::Duration), QStringLiteral("10 s"));
        QVERIFY(model.index(0, 0).data(TaskTableModel::CancellableRole).toBool());
        TaskSnapshot cancelling = task(1, TaskState::Running);
        cancelling.cancelRequested = true;
        model.applyUpdate(batch({cancelling}));
        QVERIFY(!model.index(0, 0).data(TaskTableModel::CancellableRole).toBool());
        QCOMPARE(cell(model, 0, TaskTableModel::State), QStringLiteral("cancelling… (5 s)"));
        now += 2500;
        QCOMPARE(cell(model, 0, TaskTableModel::State), QStringLiteral("cancelling… (3 s)"));
        QCOMPARE(cell(model, 0, TaskTableModel::Duration), QStringLiteral("12 s"));
        now += 3000;
        QCOMPARE(cell(model, 0, TaskTableModel::State), QStringLiteral("stopping…"));
        model.applyUpdate(batch({task(1, TaskState::Cancelled)}));
        QCOMPARE(cell(model, 0, TaskTableModel::State), QStringLiteral("cancelled"));
        QVERIFY(!model.index(0, 0).data(TaskTableModel::CancellableRole).toBool());
    }

    void interruptedTasksHaveTheirOwnLookAndNoCancelButton()
    {
        TaskTableModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        TaskSnapshot interrupted = task(1, TaskState::Interrupted);
        model.applyUpdate(batch({interrupted, task(2, TaskState::Cancelled)}));
        const QModelIndex state = model.index(0, TaskTableModel::State);
        QCOMPARE(state.data().toString(), QStringLiteral("interrupted"));
        QVERIFY(!state.data(TaskTableModel::CancellableRole).toBool());
        QVERIFY(!state.data(Qt::ToolTipRole).toString().isEmpty());
        const QIcon icon = state.data(Qt::DecorationRole).value<QIcon>();
        QCOMPARE(icon.cacheKey(), StateStyle::icon(TaskState::Interrupted).cacheKey());
        const QImage drawn = icon.pixmap(16, 16).toImage();
        for (TaskState other : {TaskState::Cancelled, TaskState::Failed, TaskState::TimedOut})
            QVERIFY(drawn != StateStyle::icon(other).pixmap(16, 16).toImage());
        // Without an error of its own, the row still says what happened.
        QCOMPARE(cell(model, 0, TaskTableModel::Result),
                 QStringLiteral("interrupted: Taskdeck stopped while it ran"));
        // With a progress message, how far it got.
        interrupted.status = QStringLiteral("3 of 8 feeds");
        model.applyUpdate(batch({interrupted}));
        QCOMPARE(cell(model, 0, TaskTableModel::Result),
                 QStringLiteral("interrupted: Taskdeck stopped while it ran (at: 3 of 8 feeds)"));
        QCOMPARE(model.groups().value(QStringLiteral("default")).finished, 2);
    }

    void stateColoursAreDistinctAndReadableInLightAndDarkPalettes_data()
    {
        QTest::addColumn<QPalette>("palette");
        QTest::newRow("light") << paletteOn(Qt::white, Qt::black);
        QTest::newRow("dark") << paletteOn(QColor(0x2a, 0x2a, 0x2a), QColor(0xee, 0xee, 0xee));
    }

    void stateColoursAreDistinctAndReadableInLightAndDarkPalettes()
    {
        QFETCH(QPalette, palette);
        const QColor base = palette.color(QPalette::Base);
        const QColor interrupted = StateStyle::color(TaskState::Interrupted, palette);
        for (TaskState state :
             {TaskState::Running, TaskState::Succeeded, TaskState::Failed, TaskState::TimedOut,
              TaskState::Cancelled, TaskState::Interrupted}) {
            const QColor color = StateStyle::color(state, palette);
            QVERIFY2(contrast(color, base) >= 4.5,
                     qPrintable(StateStyle::label(state) + u' ' + color.name()));
            if (state != TaskState::Interrupted)
                QVERIFY2(color != interrupted, qPrintable(StateStyle::label(state)));
        }
    }

    void startedShowsTheDayForTasksOfEarlierDays()
    {
        const QDateTime noon(QDate(2026, 11, 21), QTime(12, 0));
        TaskTableModel model;
        model.setClock([&noon] { return noon.toMSecsSinceEpoch(); });
        TaskSnapshot today = task(1, TaskState::Succeeded);
        today.startedAtMs = noon.addSecs(-3600).toMSecsSinceEpoch();
        TaskSnapshot earlier = task(2, TaskState::Failed);
        earlier.startedAtMs = noon.addDays(-3).toMSecsSinceEpoch();
        TaskSnapshot lastYear = task(3, TaskState::Succeeded);
        lastYear.startedAtMs = noon.addYears(-1).toMSecsSinceEpoch();
        model.applyUpdate(batch({today, earlier, lastYear}));
        QCOMPARE(cell(model, 0, TaskTableModel::Started), QStringLiteral("11:00:00"));
        QCOMPARE(cell(model, 1, TaskTableModel::Started), QStringLiteral("18 Nov 12:00"));
        QCOMPARE(cell(model, 2, TaskTableModel::Started), QStringLiteral("2025-11-21"));
    }

    void onlyPendingPrioritiesAreEditable()
    {
        TaskTableModel model; // no engine: the edit shows at once all the same
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.applyUpdate(batch({task(1), task(2, TaskState::Running)}));
        const QModelIndex pending = model.index(0, TaskTableModel::Priority);
        const QModelIndex running = model.index(1, TaskTableModel::Priority);
        QVERIFY(model.flags(pending) & Qt::ItemIsEditable);
        QVERIFY(!(model.flags(running) & Qt::ItemIsEditable));
        QVERIFY(!(model.flags(model.index(0, TaskTableModel::Name)) & Qt::ItemIsEditable));
        QVERIFY(model.setData(pending, 9));
        QCOMPARE(pending.data().toInt(), 9);
        QVERIFY(!model.setData(running, 9));
        QVERIFY(!model.setData(pending, QStringLiteral("high")));
    }

    void dragCarriesOnlyPendingTasks()
    {
        TaskTableModel model;
        model.applyUpdate(batch({task(1), task(2, TaskState::Running), task(3)}));
        std::unique_ptr<QMimeData> mime(model.mimeData(
            {model.index(2, 0), model.index(0, 0), model.index(1, 0), model.index(0, 3)}));
        QCOMPARE(TaskTableModel::idsFromMimeData(mime.get()), QList<TaskId>({1, 3}));
        QVERIFY(model.canDropMimeData(mime.get(), Qt::MoveAction, -1, -1, model.index(2, 0)));
        QVERIFY(!model.canDropMimeData(mime.get(), Qt::MoveAction, -1, -1, model.index(1, 0)));
        QVERIFY(!(model.flags(model.index(1, 0)) & Qt::ItemIsDragEnabled));
    }

    void filters_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<int>("state");
        QTest::addColumn<QString>("group");
        QTest::addColumn<QList<TaskId>>("shown");
        using F = TaskFilterProxyModel::StateFilter;
        QTest::newRow("all") << QString() << int(F::All) << QString()
                             << QList<TaskId>{1, 2, 3, 4, 5, 6, 7};
        QTest::newRow("active") << QString() << int(F::Active) << QString() << QList<TaskId>{1, 2};
        QTest::newRow("failed includes timed out")
            << QString() << int(F::Failed) << QString() << QList<TaskId>{4, 5};
        QTest::newRow("finished") << QString() << int(F::Finished) << QString()
                                  << QList<TaskId>{3, 4, 5, 6, 7};
        QTest::newRow("cancelled is not interrupted")
            << QString() << int(F::Cancelled) << QString() << QList<TaskId>{6};
        QTest::newRow("interrupted")
            << QString() << int(F::Interrupted) << QString() << QList<TaskId>{7};
        QTest::newRow("group") << QString() << int(F::All) << QStringLiteral("net")
                               << QList<TaskId>{2, 4};
        QTest::newRow("group and state")
            << QString() << int(F::Running) << QStringLiteral("net") << QList<TaskId>{2};
        QTest::newRow("text in name")
            << QStringLiteral("TASK 3") << int(F::All) << QString() << QList<TaskId>{3};
        QTest::newRow("text in error")
            << QStringLiteral("refused") << int(F::All) << QString() << QList<TaskId>{4};
        QTest::newRow("text deep in an error")
            << QStringLiteral("RESOLVER") << int(F::All) << QString() << QList<TaskId>{4};
        QTest::newRow("text in a result")
            << QStringLiteral("\"n\":3") << int(F::All) << QString() << QList<TaskId>{3};
        QTest::newRow("text in a file")
            << QStringLiteral("/scripts/t5") << int(F::All) << QString() << QList<TaskId>{5};
        QTest::newRow("text is an id")
            << QStringLiteral("6") << int(F::All) << QString() << QList<TaskId>{6};
        QTest::newRow("text is a #id")
            << QStringLiteral("#7") << int(F::All) << QString() << QList<TaskId>{7};
    }

    void filters()
    {
        QFETCH(QString, text);
        QFETCH(int, state);
        QFETCH(QString, group);
        QFETCH(QList<TaskId>, shown);
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        TaskSnapshot failed = task(4, TaskState::Failed, 0, QStringLiteral("net"));
        failed.error = QStringLiteral("connection refused\nstack traceback:\n\tin resolver.lua:9");
        TaskSnapshot succeeded = task(3, TaskState::Succeeded);
        succeeded.result = QJsonObject{{QStringLiteral("n"), 3}};
        model.applyUpdate(batch({task(1), task(2, TaskState::Running, 0, QStringLiteral("net")),
                                 succeeded, failed, task(5, TaskState::TimedOut),
                                 task(6, TaskState::Cancelled), task(7, TaskState::Interrupted)}));
        proxy.setText(text);
        proxy.setStateFilter(TaskFilterProxyModel::StateFilter(state));
        proxy.setGroup(group);
        QList<TaskId> ids;
        for (int r = 0; r < proxy.rowCount(); ++r)
            ids.append(proxy.index(r, 0).data(TaskTableModel::IdRole).value<TaskId>());
        QCOMPARE(ids, shown);
    }

    // A task waiting to retry says so in its summary, which the details do not hold: the
    // filter finds it by either.
    void filterFindsARetryingTaskByItsSummaryAndItsError()
    {
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        TaskSnapshot retrying = task(1);
        retrying.attempt = 1;
        retrying.error = QStringLiteral("upload failed\nstack traceback: ...");
        model.applyUpdate(batch({retrying, task(2)}));
        for (const QString &text : {QStringLiteral("retrying after"), QStringLiteral("UPLOAD"),
                                    QStringLiteral("traceback")}) {
            proxy.setText(text);
            QCOMPARE(proxy.rowCount(), 1);
            QCOMPARE(proxy.index(0, 0).data(TaskTableModel::IdRole).value<TaskId>(), TaskId(1));
        }
        proxy.setText(QStringLiteral("#2"));
        QCOMPARE(proxy.rowCount(), 1);
        proxy.setText(QStringLiteral("02")); // not how ids are written
        QCOMPARE(proxy.rowCount(), 0);
    }

    void filterFollowsChanges()
    {
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setStateFilter(TaskFilterProxyModel::StateFilter::Active);
        model.applyUpdate(pendingTasks(1, 5));
        QCOMPARE(proxy.rowCount(), 5);
        model.applyUpdate(batch({task(2, TaskState::Succeeded), task(4, TaskState::Failed)}));
        QCOMPARE(proxy.rowCount(), 3);
        model.applyUpdate(pendingTasks(6, 2));
        QCOMPARE(proxy.rowCount(), 5);
    }

    void sortingByPriorityDescendingIsTheEngineOrder()
    {
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.applyUpdate(batch({task(1, TaskState::Pending, 0), task(2, TaskState::Pending, 5),
                                 task(3, TaskState::Pending, 0), task(4, TaskState::Pending, 5),
                                 task(5, TaskState::Pending, 1)}));
        proxy.sort(TaskTableModel::Priority, Qt::DescendingOrder);
        const auto order = [&proxy] {
            QList<TaskId> ids;
            for (int r = 0; r < proxy.rowCount(); ++r)
                ids.append(proxy.index(r, 0).data(TaskTableModel::IdRole).value<TaskId>());
            return ids;
        };
        QCOMPARE(order(), QList<TaskId>({2, 4, 5, 1, 3}));
        // A change of priority re-sorts the row (dynamic sorting).
        model.applyUpdate(batch({task(3, TaskState::Pending, 9)}));
        QCOMPARE(order(), QList<TaskId>({3, 2, 4, 5, 1}));
        // New rows land in their sorted place.
        model.applyUpdate(batch({task(6, TaskState::Pending, 2)}));
        QCOMPARE(order(), QList<TaskId>({3, 2, 4, 6, 5, 1}));
        proxy.sort(TaskTableModel::Name, Qt::AscendingOrder);
        QCOMPARE(order(), QList<TaskId>({1, 2, 3, 4, 5, 6}));
    }

    void queuePositionIsThePlaceInTheEngineOrderAndSortsMovedRows()
    {
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        const auto queued = [](TaskId id, int priority, qint64 sequence) {
            TaskSnapshot t = task(id, TaskState::Pending, priority);
            t.sequence = sequence;
            return t;
        };
        model.applyUpdate(batch({queued(1, 0, 1), queued(2, 0, 2), queued(3, 5, 3), queued(4, 0, 4),
                                 task(5, TaskState::Running)}));
        const auto place = [&model](TaskId id) {
            return cell(model, model.rowOf(id), TaskTableModel::QueuePosition);
        };
        QCOMPARE(place(3), QStringLiteral("1"));
        QCOMPARE(place(1), QStringLiteral("2"));
        QCOMPARE(place(4), QStringLiteral("4"));
        QCOMPARE(place(5), QString()); // running: not in the queue
        proxy.sort(TaskTableModel::QueuePosition, Qt::AscendingOrder);
        const auto order = [&proxy] {
            QList<TaskId> ids;
            for (int r = 0; r < proxy.rowCount(); ++r)
                ids.append(proxy.index(r, 0).data(TaskTableModel::IdRole).value<TaskId>());
            return ids;
        };
        QCOMPARE(order(), QList<TaskId>({3, 1, 2, 4, 5}));

        // Moved to the top (the engine gives it the head's priority and a sequence before
        // every other): its row moves, and so do the places of the others.
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        model.applyUpdate(batch({queued(4, 5, -1)}));
        QCOMPARE(place(4), QStringLiteral("1"));
        QCOMPARE(place(3), QStringLiteral("2"));
        QCOMPARE(order(), QList<TaskId>({4, 3, 1, 2, 5}));
        bool positionsTold = false;
        for (const auto &args : changed)
            positionsTold =
                positionsTold ||
                (args[0].value<QModelIndex>().column() <= TaskTableModel::QueuePosition &&
                 args[1].value<QModelIndex>().column() >= TaskTableModel::QueuePosition &&
                 args[0].value<QModelIndex>().row() == 0 &&
                 args[1].value<QModelIndex>().row() == 4);
        QVERIFY(positionsTold);

        // The head starts: everyone moves up one place. A priority edited in the table
        // shows its new place at once.
        model.applyUpdate(batch({task(4, TaskState::Running)}));
        QCOMPARE(place(4), QString());
        QCOMPARE(place(3), QStringLiteral("1"));
        QVERIFY(model.setData(model.index(model.rowOf(2), TaskTableModel::Priority), 9));
        QCOMPARE(place(2), QStringLiteral("1"));
        QCOMPARE(order(), QList<TaskId>({2, 3, 1, 4, 5}));
        // Removed rows leave the order.
        model.applyUpdate(batch({task(2, TaskState::Cancelled)}));
        model.removeTasks([](const TaskTableModel::Row &row) { return row.id == 2; });
        QCOMPARE(place(3), QStringLiteral("1"));
        QCOMPARE(place(1), QStringLiteral("2"));
    }

    void anErrorNamesItsScriptByFileNameInTheTable()
    {
        TaskTableModel model;
        TaskSnapshot t = task(1, TaskState::Failed);
        t.error = QStringLiteral("/home/someone/projects/scripts/t1.lua:3: boom\nstack");
        t.file = QStringLiteral("/home/someone/projects/scripts/t1.lua");
        model.applyUpdate(batch({t}));
        QCOMPARE(cell(model, 0, TaskTableModel::Result), QStringLiteral("t1.lua:3: boom"));
        // The whole path stays in the tooltip.
        QVERIFY(model.index(0, TaskTableModel::Result)
                    .data(Qt::ToolTipRole)
                    .toString()
                    .startsWith(t.file + ":3: boom"));
    }

    void aSucceededTaskShowsAFullBar()
    {
        TaskTableModel model;
        TaskSnapshot t = task(1, TaskState::Running);
        t.progress = 0.55;
        model.applyUpdate(batch({t}));
        QCOMPARE(cell(model, 0, TaskTableModel::Progress), QStringLiteral("55%"));
        t = task(1, TaskState::Succeeded);
        t.progress = 0.55;
        model.applyUpdate(batch({t}));
        QCOMPARE(cell(model, 0, TaskTableModel::Progress), QStringLiteral("100%"));
        t = task(2, TaskState::Failed);
        t.progress = 0.5; // a failure keeps where it stopped
        model.applyUpdate(batch({t}));
        QCOMPARE(cell(model, 1, TaskTableModel::Progress), QStringLiteral("50%"));
    }

    void removedTasksStayRemoved()
    {
        TaskTableModel model;
        TaskFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QList<TaskSnapshot> tasks;
        for (TaskId id = 1; id <= 100; ++id)
            tasks.append(task(id, id % 3 == 0 ? TaskState::Running : TaskState::Succeeded));
        model.applyUpdate(batch(tasks));
        const int removed =
            model.removeTasks([](const TaskTableModel::Row &row) { return isFinished(row.state); });
        QCOMPARE(removed, 67);
        QCOMPARE(model.rowCount(), 33);
        QCOMPARE(proxy.rowCount(), 33);
        QCOMPARE(model.rowOf(3), 0);
        QCOMPARE(model.rowOf(99), 32);
        QCOMPARE(model.rowOf(1), -1);
        // Late news of a removed task does not bring it back; a new task still arrives.
        model.applyUpdate(batch({task(1, TaskState::Succeeded), task(101)}));
        QCOMPARE(model.rowCount(), 34);
        QCOMPARE(model.rowOf(101), 33);
        // A few runs are removed row range by row range.
        QSignalSpy removedRows(&model, &QAbstractItemModel::rowsRemoved);
        model.removeTasks(
            [](const TaskTableModel::Row &row) { return row.id == 3 || row.id == 101; });
        QCOMPARE(removedRows.size(), 2);
        QCOMPARE(model.rowOf(6), 0);
    }

    void groupsAreCountedAndAnnounced()
    {
        TaskTableModel model;
        QSignalSpy added(&model, &TaskTableModel::groupAdded);
        model.applyUpdate(batch({task(1, TaskState::Running, 0, QStringLiteral("net")),
                                 task(2, TaskState::Pending, 0, QStringLiteral("net")), task(3)}));
        QCOMPARE(added.size(), 2);
        QCOMPARE(model.groups().value(QStringLiteral("net")).running, 1);
        QCOMPARE(model.groups().value(QStringLiteral("net")).pending, 1);
        model.applyUpdate(batch({task(1, TaskState::Succeeded, 0, QStringLiteral("net")),
                                 task(2, TaskState::Running, 0, QStringLiteral("net"))}));
        QCOMPARE(model.groups().value(QStringLiteral("net")).running, 1);
        QCOMPARE(model.groups().value(QStringLiteral("net")).pending, 0);
        QCOMPARE(model.groups().value(QStringLiteral("net")).finished, 1);
        QVERIFY(model.hasLiveRows());
        QCOMPARE(added.size(), 2);
    }
};

QTEST_MAIN(tst_TaskTableModel)
#include "tst_tasktablemodel.moc"
