// TaskQueue: start order by priority then submission, reordering, limits, pauses and
// the weighted round-robin between groups (SPEC 4).
#include "concurrencylimit.h"
#include "taskqueue.h"

#include <QTest>

namespace {

const QString Default = QStringLiteral("default");

void push(TaskQueue &queue, TaskId id, int priority = 0, const QString &group = Default)
{
    queue.push(id, group, priority, queue.nextSequence());
}

// A limit that lets everything start.
ConcurrencyLimit unlimited()
{
    ConcurrencyLimit limit;
    limit.setMaxRunning(1 << 20);
    return limit;
}

// Takes tasks until the queue gives none (without marking them running).
QList<int> drain(TaskQueue &queue, const ConcurrencyLimit &limit = unlimited())
{
    QList<int> order;
    while (const auto id = queue.takeNext(limit)) {
        order.append(int(*id));
        if (order.size() > 10000)
            break; // a queue that never empties is a failure, not a hang
    }
    return order;
}

} // namespace

class tst_TaskQueue : public QObject
{
    Q_OBJECT

private slots:
    void startsByPriorityThenSubmissionOrder_data();
    void startsByPriorityThenSubmissionOrder();
    void setPriorityOfAPendingTaskMovesItAtOnce();
    void setPriorityKeepsSubmissionOrderAmongEquals();
    void setPriorityOfAnUnknownTaskFails();
    void movesReorderPendingTasks_data();
    void movesReorderPendingTasks();
    void movesOfUnknownTasksFail();
    void removeTakesATaskOutOfTheQueue();
    void globalLimitStopsStartsUntilATaskIsReleased();
    void groupLimitHoldsBackOnlyThatGroup();
    void pausedQueueStartsNothing();
    void pausedGroupIsSkippedWhileOthersContinue();
    void groupsWithTiedHeadsShareByWeight_data();
    void groupsWithTiedHeadsShareByWeight();
    void busyGroupDoesNotStarveAnother();
    void higherPriorityInAnotherGroupWinsOverRoundRobin();
    void positionIsThePlaceInStartOrder();
    void sizeCountsPendingTasksPerGroup();
};

void tst_TaskQueue::startsByPriorityThenSubmissionOrder_data()
{
    QTest::addColumn<QList<int>>("priorities"); // of ids 1, 2, 3, ... in submission order
    QTest::addColumn<QList<int>>("order");

    QTest::newRow("all equal: submission order")
        << QList<int>{0, 0, 0, 0} << QList<int>{1, 2, 3, 4};
    QTest::newRow("higher first") << QList<int>{1, 3, 2} << QList<int>{2, 3, 1};
    QTest::newRow("negative last") << QList<int>{-1, 0, -5, 1} << QList<int>{4, 2, 1, 3};
    QTest::newRow("ties keep submission order")
        << QList<int>{1, 2, 1, 2, 1} << QList<int>{2, 4, 1, 3, 5};
    QTest::newRow("extremes") << QList<int>{INT_MIN, INT_MAX, 0} << QList<int>{2, 3, 1};
}

void tst_TaskQueue::startsByPriorityThenSubmissionOrder()
{
    QFETCH(QList<int>, priorities);
    QFETCH(QList<int>, order);

    TaskQueue queue;
    for (int i = 0; i < priorities.size(); ++i)
        push(queue, TaskId(i + 1), priorities[i]);
    QCOMPARE(drain(queue), order);
    QCOMPARE(queue.size(), 0);
}

void tst_TaskQueue::setPriorityOfAPendingTaskMovesItAtOnce()
{
    TaskQueue queue;
    for (TaskId id = 1; id <= 4; ++id)
        push(queue, id);
    QVERIFY(queue.setPriority(3, 5));
    QVERIFY(queue.setPriority(1, -1));
    QCOMPARE(drain(queue), (QList<int>{3, 2, 4, 1}));
}

void tst_TaskQueue::setPriorityKeepsSubmissionOrderAmongEquals()
{
    TaskQueue queue;
    for (TaskId id = 1; id <= 3; ++id)
        push(queue, id);
    QVERIFY(queue.setPriority(1, 9));
    QVERIFY(queue.setPriority(1, 0)); // back to where it was submitted
    QCOMPARE(drain(queue), (QList<int>{1, 2, 3}));
}

void tst_TaskQueue::setPriorityOfAnUnknownTaskFails()
{
    TaskQueue queue;
    push(queue, 1);
    QVERIFY(!queue.setPriority(2, 5));
    QCOMPARE(queue.takeNext(unlimited()), std::optional<TaskId>(1));
    QVERIFY(!queue.setPriority(1, 5)); // taken: no longer pending
    QCOMPARE(queue.size(), 0);
}

void tst_TaskQueue::movesReorderPendingTasks_data()
{
    QTest::addColumn<QList<int>>("priorities"); // of ids 1, 2, 3, ...
    QTest::addColumn<QString>("move");          // "top", "bottom" or "before"
    QTest::addColumn<int>("id");
    QTest::addColumn<int>("before");
    QTest::addColumn<int>("newPriority");
    QTest::addColumn<QList<int>>("order");

    const QList<int> flat{0, 0, 0, 0};
    QTest::newRow("top, equal priorities")
        << flat << "top" << 4 << 0 << 0 << QList<int>{4, 1, 2, 3};
    QTest::newRow("top takes the highest priority")
        << QList<int>{0, 5, 0} << "top" << 3 << 0 << 5 << QList<int>{3, 2, 1};
    QTest::newRow("top of the head stays first")
        << flat << "top" << 1 << 0 << 0 << QList<int>{1, 2, 3, 4};
    QTest::newRow("bottom, equal priorities")
        << flat << "bottom" << 1 << 0 << 0 << QList<int>{2, 3, 4, 1};
    QTest::newRow("bottom takes the lowest priority")
        << QList<int>{0, 0, -2} << "bottom" << 1 << 0 << -2 << QList<int>{2, 3, 1};
    QTest::newRow("before, later task moves up")
        << flat << "before" << 4 << 2 << 0 << QList<int>{1, 4, 2, 3};
    QTest::newRow("before, earlier task moves down")
        << flat << "before" << 1 << 3 << 0 << QList<int>{2, 1, 3, 4};
    QTest::newRow("before the head") << flat << "before" << 3 << 1 << 0 << QList<int>{3, 1, 2, 4};
    QTest::newRow("before a task of another priority")
        << QList<int>{5, 0, 0} << "before" << 3 << 1 << 5 << QList<int>{3, 1, 2};
    QTest::newRow("before the last of a band")
        << QList<int>{1, 1, 0, 0} << "before" << 4 << 2 << 1 << QList<int>{1, 4, 2, 3};
}

void tst_TaskQueue::movesReorderPendingTasks()
{
    QFETCH(QList<int>, priorities);
    QFETCH(QString, move);
    QFETCH(int, id);
    QFETCH(int, before);
    QFETCH(int, newPriority);
    QFETCH(QList<int>, order);

    TaskQueue queue;
    for (int i = 0; i < priorities.size(); ++i)
        push(queue, TaskId(i + 1), priorities[i]);
    std::optional<int> result;
    if (move == u"top")
        result = queue.moveToTop(TaskId(id));
    else if (move == u"bottom")
        result = queue.moveToBottom(TaskId(id));
    else
        result = queue.moveBefore(TaskId(id), TaskId(before));
    QCOMPARE(result, std::optional<int>(newPriority));
    QCOMPARE(queue.position(TaskId(id)), int(order.indexOf(id)) + 1);
    QCOMPARE(drain(queue), order);
}

void tst_TaskQueue::movesOfUnknownTasksFail()
{
    TaskQueue queue;
    push(queue, 1);
    push(queue, 2);
    QCOMPARE(queue.moveToTop(9), std::nullopt);
    QCOMPARE(queue.moveToBottom(9), std::nullopt);
    QCOMPARE(queue.moveBefore(9, 1), std::nullopt);
    QCOMPARE(queue.moveBefore(1, 9), std::nullopt);
    QCOMPARE(queue.moveBefore(1, 1), std::nullopt);
    QCOMPARE(drain(queue), (QList<int>{1, 2}));
}

void tst_TaskQueue::removeTakesATaskOutOfTheQueue()
{
    TaskQueue queue;
    for (TaskId id = 1; id <= 3; ++id)
        push(queue, id, 0, id == 2 ? QStringLiteral("net") : Default);
    QVERIFY(queue.contains(2));
    QVERIFY(queue.remove(2));
    QVERIFY(!queue.contains(2));
    QVERIFY(!queue.remove(2));
    QCOMPARE(queue.size(), 2);
    QCOMPARE(queue.size(QStringLiteral("net")), 0);
    QCOMPARE(queue.position(2), 0);
    QCOMPARE(drain(queue), (QList<int>{1, 3}));
}

void tst_TaskQueue::globalLimitStopsStartsUntilATaskIsReleased()
{
    TaskQueue queue;
    ConcurrencyLimit limit;
    limit.setMaxRunning(2);
    for (TaskId id = 1; id <= 4; ++id)
        push(queue, id, 0, id % 2 ? QStringLiteral("a") : QStringLiteral("b"));

    auto start = [&]() -> int {
        const auto id = queue.takeNext(limit);
        if (!id)
            return 0;
        limit.started(*id % 2 ? QStringLiteral("a") : QStringLiteral("b"));
        return int(*id);
    };
    QCOMPARE(start(), 1);
    QCOMPARE(start(), 2);
    QCOMPARE(limit.running(), 2);
    QCOMPARE(start(), 0);
    QCOMPARE(queue.size(), 2);
    limit.released(QStringLiteral("a"));
    QCOMPARE(start(), 3);
    QCOMPARE(start(), 0);
    limit.setMaxRunning(3); // changed live
    QCOMPARE(start(), 4);
}

void tst_TaskQueue::groupLimitHoldsBackOnlyThatGroup()
{
    const QString net = QStringLiteral("net");
    const QString cpu = QStringLiteral("cpu");
    TaskQueue queue;
    ConcurrencyLimit limit;
    limit.setGroupLimit(net, 1);
    push(queue, 1, 5, net);
    push(queue, 2, 5, net);
    push(queue, 3, 0, cpu);
    push(queue, 4, 0, cpu);

    QCOMPARE(queue.takeNext(limit), std::optional<TaskId>(1));
    limit.started(net);
    // Task 2 has the higher priority but its group is full: the other group goes on.
    QCOMPARE(queue.takeNext(limit), std::optional<TaskId>(3));
    limit.started(cpu);
    QCOMPARE(queue.takeNext(limit), std::optional<TaskId>(4));
    limit.started(cpu);
    QCOMPARE(queue.takeNext(limit), std::nullopt);
    QCOMPARE(queue.size(net), 1);
    limit.released(net);
    QCOMPARE(queue.takeNext(limit), std::optional<TaskId>(2));
}

void tst_TaskQueue::pausedQueueStartsNothing()
{
    TaskQueue queue;
    push(queue, 1);
    push(queue, 2, 0, QStringLiteral("other"));
    queue.setPaused(true);
    QVERIFY(queue.isPaused());
    QCOMPARE(queue.takeNext(unlimited()), std::nullopt);
    QCOMPARE(queue.size(), 2);
    queue.setPaused(false);
    QCOMPARE(drain(queue), (QList<int>{1, 2}));
}

void tst_TaskQueue::pausedGroupIsSkippedWhileOthersContinue()
{
    const QString a = QStringLiteral("a");
    const QString b = QStringLiteral("b");
    TaskQueue queue;
    push(queue, 1, 9, a);
    push(queue, 2, 0, b);
    push(queue, 3, 0, b);
    push(queue, 4, 9, a);
    queue.setGroupPaused(a, true);
    QVERIFY(queue.isGroupPaused(a));
    QVERIFY(!queue.isGroupPaused(b));
    QCOMPARE(queue.pausedGroups(), QStringList{a});
    QCOMPARE(drain(queue), (QList<int>{2, 3}));
    QCOMPARE(queue.size(a), 2);
    queue.setGroupPaused(a, false);
    QVERIFY(queue.pausedGroups().isEmpty());
    QCOMPARE(drain(queue), (QList<int>{1, 4}));
}

void tst_TaskQueue::groupsWithTiedHeadsShareByWeight_data()
{
    QTest::addColumn<int>("weightA");
    QTest::addColumn<int>("weightB");

    QTest::newRow("equal weights alternate") << 1 << 1;
    QTest::newRow("2:1") << 2 << 1;
    QTest::newRow("1:2") << 1 << 2;
    QTest::newRow("3:2") << 3 << 2;
}

void tst_TaskQueue::groupsWithTiedHeadsShareByWeight()
{
    QFETCH(int, weightA);
    QFETCH(int, weightB);

    TaskQueue queue;
    queue.setGroupWeight(QStringLiteral("a"), weightA);
    queue.setGroupWeight(QStringLiteral("b"), weightB);
    // Ids 1..30 in group a, 101..130 in group b, all of one priority.
    for (TaskId i = 1; i <= 30; ++i) {
        push(queue, i, 0, QStringLiteral("a"));
        push(queue, 100 + i, 0, QStringLiteral("b"));
    }
    QString picks;
    QList<int> fromA, fromB;
    const ConcurrencyLimit limit = unlimited();
    for (int i = 0; i < 30; ++i) {
        const auto id = queue.takeNext(limit);
        QVERIFY(id);
        picks += *id > 100 ? u'b' : u'a';
        (*id > 100 ? fromB : fromA).append(int(*id));
    }
    // Every round of weightA + weightB picks gives each group exactly its weight.
    const int round = weightA + weightB;
    for (int start = 0; start + round <= picks.size(); start += round) {
        const QString window = picks.mid(start, round);
        QVERIFY2(window.count(u'a') == weightA && window.count(u'b') == weightB,
                 qPrintable(QStringLiteral("picks %1: round at %2").arg(picks).arg(start)));
    }
    QCOMPARE(fromA.size(), 30 / round * weightA);
    // Within a group, still submission order.
    QVERIFY(std::is_sorted(fromA.begin(), fromA.end()));
    QVERIFY(std::is_sorted(fromB.begin(), fromB.end()));
    QCOMPARE(fromA.value(0), 1);
    QCOMPARE(fromB.value(0), 101);
}

void tst_TaskQueue::busyGroupDoesNotStarveAnother()
{
    TaskQueue queue;
    for (TaskId i = 1; i <= 100; ++i)
        push(queue, i, 0, QStringLiteral("busy"));
    push(queue, 1000, 0, QStringLiteral("quiet"));

    const ConcurrencyLimit limit = unlimited();
    QList<int> started;
    for (int i = 0; i < 2; ++i) {
        const auto id = queue.takeNext(limit);
        QVERIFY(id);
        started.append(int(*id));
    }
    QVERIFY2(started.contains(1000), "the quiet group waited behind the busy one");
}

void tst_TaskQueue::higherPriorityInAnotherGroupWinsOverRoundRobin()
{
    TaskQueue queue;
    for (TaskId i = 1; i <= 3; ++i)
        push(queue, i, 0, QStringLiteral("a"));
    push(queue, 10, 1, QStringLiteral("b"));
    push(queue, 11, 1, QStringLiteral("b"));
    push(queue, 12, 0, QStringLiteral("b"));
    const auto order = drain(queue);
    QCOMPARE(order.mid(0, 2), (QList<int>{10, 11}));
    // Then the tie at priority 0 is shared.
    QList<int> tie = order.mid(2, 2);
    std::sort(tie.begin(), tie.end());
    QCOMPARE(tie, (QList<int>{1, 12}));
    QCOMPARE(order.size(), 6);
}

void tst_TaskQueue::positionIsThePlaceInStartOrder()
{
    TaskQueue queue;
    push(queue, 1, 0);
    push(queue, 2, 5);
    push(queue, 3, 0, QStringLiteral("other"));
    push(queue, 4, -1);
    QCOMPARE(queue.position(2), 1);
    QCOMPARE(queue.position(1), 2);
    QCOMPARE(queue.position(3), 3);
    QCOMPARE(queue.position(4), 4);
    QCOMPARE(queue.position(99), 0);

    QVERIFY(queue.setPriority(4, 10));
    QCOMPARE(queue.position(4), 1);
    QCOMPARE(queue.position(2), 2);
    QVERIFY(queue.moveToBottom(2));
    QCOMPARE(queue.position(2), 4);

    // All at once: the same places.
    const QHash<TaskId, int> places = queue.positions();
    QCOMPARE(places.size(), 4);
    for (TaskId id : {1, 2, 3, 4})
        QCOMPARE(places.value(id), queue.position(id));
}

void tst_TaskQueue::sizeCountsPendingTasksPerGroup()
{
    TaskQueue queue;
    push(queue, 1, 0, QStringLiteral("a"));
    push(queue, 2, 0, QStringLiteral("a"));
    push(queue, 3, 0, QStringLiteral("b"));
    QCOMPARE(queue.size(), 3);
    QCOMPARE(queue.size(QStringLiteral("a")), 2);
    QCOMPARE(queue.size(QStringLiteral("b")), 1);
    QCOMPARE(queue.size(QStringLiteral("none")), 0);
    QVERIFY(queue.takeNext(unlimited()));
    QCOMPARE(queue.size(), 2);
}

QTEST_GUILESS_MAIN(tst_TaskQueue)
#include "tst_taskqueue.moc"
