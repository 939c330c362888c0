// TimerHeap: the engine's one heap of deadlines (sleeps, timeouts, retry delays).
#include "deadline.h"
#include "timerheap.h"

#include <QTest>

class tst_TimerHeap : public QObject
{
    Q_OBJECT

private slots:
    void firesInDeadlineOrder_data();
    void firesInDeadlineOrder();
    void firesOnlyWhatIsDue();
    void cancelPreventsFiring();
    void cancelOfTheTopMovesNextDeadline();
    void cancellingAFiredOrUnknownTimerChangesNothing();
    void callbackMayAddTimers();
    void callbackMayCancelTimers();
    void nextDeadlineIsMinusOneWhenEmpty();
    void earliestChangedFiresOnlyForANewEarliestDeadline();
    void steadyClockGoesForward();
    void aDeadlineInThePastStillFiresAndHidesNoOther();
    void aSaturatedDeadlineSortsLast();
    void durationsBecomeDeadlinesWithoutOverflow();
};

void tst_TimerHeap::firesInDeadlineOrder_data()
{
    QTest::addColumn<QList<qint64>>("deadlines"); // of timers 0, 1, 2, ... in add order
    QTest::addColumn<QList<int>>("order");

    QTest::newRow("ascending") << QList<qint64>{10, 20, 30} << QList<int>{0, 1, 2};
    QTest::newRow("descending") << QList<qint64>{30, 20, 10} << QList<int>{2, 1, 0};
    QTest::newRow("mixed") << QList<qint64>{50, 10, 40, 20, 30} << QList<int>{1, 3, 4, 2, 0};
    QTest::newRow("equal deadlines in insertion order")
        << QList<qint64>{7, 7, 7, 7} << QList<int>{0, 1, 2, 3};
    QTest::newRow("ties among others")
        << QList<qint64>{20, 10, 20, 10, 20} << QList<int>{1, 3, 0, 2, 4};
    QTest::newRow("many equal after a later one")
        << QList<qint64>{99, 5, 5, 5, 5, 5, 5, 5, 5} << QList<int>{1, 2, 3, 4, 5, 6, 7, 8, 0};
}

void tst_TimerHeap::firesInDeadlineOrder()
{
    QFETCH(QList<qint64>, deadlines);
    QFETCH(QList<int>, order);

    TimerHeap heap;
    QList<int> fired;
    for (int i = 0; i < deadlines.size(); ++i)
        heap.add(deadlines[i], [&fired, i] { fired.append(i); });
    QCOMPARE(heap.size(), size_t(deadlines.size()));
    heap.fireDue(1000);
    QCOMPARE(fired, order);
    QCOMPARE(heap.size(), size_t(0));
    QVERIFY(heap.isEmpty());
}

void tst_TimerHeap::firesOnlyWhatIsDue()
{
    TimerHeap heap;
    QList<int> fired;
    heap.add(10, [&] { fired.append(10); });
    heap.add(20, [&] { fired.append(20); });
    heap.add(30, [&] { fired.append(30); });
    heap.fireDue(5);
    QVERIFY(fired.isEmpty());
    heap.fireDue(20); // a deadline equal to now is due
    QCOMPARE(fired, (QList<int>{10, 20}));
    QCOMPARE(heap.nextDeadline(), qint64(30));
    QCOMPARE(heap.size(), size_t(1));
    heap.fireDue(20);
    QCOMPARE(fired.size(), 2); // nothing fires twice
    heap.fireDue(31);
    QCOMPARE(fired, (QList<int>{10, 20, 30}));
}

void tst_TimerHeap::cancelPreventsFiring()
{
    TimerHeap heap;
    QList<int> fired;
    heap.add(10, [&] { fired.append(1); });
    const TimerHeap::Id middle = heap.add(20, [&] { fired.append(2); });
    heap.add(30, [&] { fired.append(3); });
    heap.cancel(middle);
    QCOMPARE(heap.size(), size_t(2));
    heap.fireDue(100);
    QCOMPARE(fired, (QList<int>{1, 3}));
    QVERIFY(heap.isEmpty());
}

void tst_TimerHeap::cancelOfTheTopMovesNextDeadline()
{
    TimerHeap heap;
    QList<int> fired;
    const TimerHeap::Id top = heap.add(10, [&] { fired.append(1); });
    heap.add(20, [&] { fired.append(2); });
    QCOMPARE(heap.nextDeadline(), qint64(10));
    heap.cancel(top);
    QCOMPARE(heap.nextDeadline(), qint64(20));
    heap.fireDue(15);
    QVERIFY(fired.isEmpty());
    heap.fireDue(20);
    QCOMPARE(fired, QList<int>{2});

    // The only timer, cancelled: empty.
    const TimerHeap::Id only = heap.add(50, [&] { fired.append(3); });
    heap.cancel(only);
    QCOMPARE(heap.nextDeadline(), qint64(-1));
    QVERIFY(heap.isEmpty());
    QCOMPARE(heap.size(), size_t(0));
    heap.fireDue(100);
    QCOMPARE(fired, QList<int>{2});
}

void tst_TimerHeap::cancellingAFiredOrUnknownTimerChangesNothing()
{
    TimerHeap heap;
    int fired = 0;
    const TimerHeap::Id first = heap.add(10, [&] { ++fired; });
    heap.fireDue(10);
    QCOMPARE(fired, 1);
    heap.cancel(first); // already fired
    heap.cancel(0);     // "no timer"
    heap.cancel(12345); // never handed out
    QCOMPARE(heap.size(), size_t(0));
    QVERIFY(heap.isEmpty());

    const TimerHeap::Id second = heap.add(20, [&] { ++fired; });
    heap.cancel(first);
    QCOMPARE(heap.size(), size_t(1));
    QCOMPARE(heap.nextDeadline(), qint64(20));
    heap.cancel(second);
    heap.cancel(second); // twice is once
    QCOMPARE(heap.size(), size_t(0));
    heap.add(30, [&] { ++fired; });
    QCOMPARE(heap.size(), size_t(1));
    heap.fireDue(100);
    QCOMPARE(fired, 2);
}

void tst_TimerHeap::callbackMayAddTimers()
{
    TimerHeap heap;
    QStringList fired;
    heap.add(10, [&] {
        fired.append(QStringLiteral("10"));
        heap.add(15, [&] { fired.append(QStringLiteral("15 (added)")); }); // due now
        heap.add(20, [&] { fired.append(QStringLiteral("20 (added)")); }); // ties: after
        heap.add(500, [&] { fired.append(QStringLiteral("500 (added)")); });
    });
    heap.add(20, [&] { fired.append(QStringLiteral("20")); });
    heap.fireDue(100);
    QCOMPARE(fired, (QStringList{"10", "15 (added)", "20", "20 (added)"}));
    QCOMPARE(heap.nextDeadline(), qint64(500));
    QCOMPARE(heap.size(), size_t(1));

    // A callback that re-adds itself at the same now does not loop forever when its
    // deadline is in the future.
    int ticks = 0;
    TimerHeap again;
    std::function<void()> tick = [&] {
        ++ticks;
        again.add(1000 + ticks, tick);
    };
    again.add(1000, tick);
    again.fireDue(1000);
    QCOMPARE(ticks, 1);
    QCOMPARE(again.nextDeadline(), qint64(1001));
}

void tst_TimerHeap::callbackMayCancelTimers()
{
    TimerHeap heap;
    QList<int> fired;
    TimerHeap::Id later = 0;
    TimerHeap::Id self = 0;
    self = heap.add(10, [&] {
        fired.append(1);
        heap.cancel(later);
        heap.cancel(self); // its own, already firing: no effect
    });
    later = heap.add(20, [&] { fired.append(2); });
    heap.add(30, [&] { fired.append(3); });
    heap.fireDue(100);
    QCOMPARE(fired, (QList<int>{1, 3}));
    QVERIFY(heap.isEmpty());
    QCOMPARE(heap.size(), size_t(0));
}

void tst_TimerHeap::nextDeadlineIsMinusOneWhenEmpty()
{
    TimerHeap heap;
    QCOMPARE(heap.nextDeadline(), qint64(-1));
    QVERIFY(heap.isEmpty());
    heap.add(0, [] {});
    QCOMPARE(heap.nextDeadline(), qint64(0));
    QVERIFY(!heap.isEmpty());
    heap.fireDue(0);
    QCOMPARE(heap.nextDeadline(), qint64(-1));
}

void tst_TimerHeap::earliestChangedFiresOnlyForANewEarliestDeadline()
{
    TimerHeap heap;
    QList<qint64> notified;
    heap.setEarliestChanged([&](qint64 deadline) { notified.append(deadline); });

    heap.add(50, [] {});
    QCOMPARE(notified, QList<qint64>{50});
    heap.add(60, [] {});
    heap.add(50, [] {}); // equal to the earliest: not a new earliest
    QCOMPARE(notified, QList<qint64>{50});
    heap.add(40, [] {});
    QCOMPARE(notified, (QList<qint64>{50, 40}));
    heap.add(45, [] {});
    QCOMPARE(notified, (QList<qint64>{50, 40}));

    heap.fireDue(1000);
    QVERIFY(heap.isEmpty());
    heap.add(2000, [] {}); // the first of an empty heap is the earliest
    QCOMPARE(notified, (QList<qint64>{50, 40, 2000}));
}

void tst_TimerHeap::steadyClockGoesForward()
{
    const qint64 a = steadyNowNs();
    const qint64 b = steadyNowNs();
    QVERIFY(a > 0);
    QVERIFY(b >= a);
}

// A wrapped (negative) deadline once read as "no timers" and wedged every timer after it.
void tst_TimerHeap::aDeadlineInThePastStillFiresAndHidesNoOther()
{
    TimerHeap heap;
    QList<int> fired;
    heap.add(-5, [&] { fired.append(0); });
    heap.add(std::numeric_limits<qint64>::min(), [&] { fired.append(1); });
    heap.add(10, [&] { fired.append(2); });
    QVERIFY(!heap.isEmpty());
    QCOMPARE(heap.nextDeadline(), 0);
    heap.fireDue(20);
    QCOMPARE(fired, (QList<int>{0, 1, 2}));
    QVERIFY(heap.isEmpty());
}

void tst_TimerHeap::aSaturatedDeadlineSortsLast()
{
    TimerHeap heap;
    QList<int> fired;
    heap.add(NeverNs, [&] { fired.append(0); });
    heap.add(deadlineAfterMs(std::numeric_limits<qint64>::max(), 100), [&] { fired.append(1); });
    heap.add(10, [&] { fired.append(2); });
    QCOMPARE(heap.nextDeadline(), 10);
    heap.fireDue(1000);
    QCOMPARE(fired, QList<int>{2});
    QCOMPARE(heap.nextDeadline(), NeverNs);
    heap.add(50, [&] { fired.append(3); }); // timers added later still fire
    heap.fireDue(2000);
    QCOMPARE(fired, (QList<int>{2, 3}));
    QCOMPARE(heap.size(), size_t(2));
}

void tst_TimerHeap::durationsBecomeDeadlinesWithoutOverflow()
{
    const qint64 now = steadyNowNs();
    QCOMPARE(deadlineAfterMs(250, now), now + 250000000);
    QCOMPARE(deadlineAfterMs(0, now), now);
    QCOMPARE(deadlineAfterMs(-7, now), now);
    // 2562048h: ms * 1000000 wraps a qint64
    QCOMPARE(deadlineAfterMs(qint64(2562048) * 3600 * 1000, now), NeverNs);
    QCOMPARE(deadlineAfterMs(std::numeric_limits<qint64>::max(), now), NeverNs);
    QVERIFY(deadlineAfterMs(MaxDurationMs, now) > now);
    QCOMPARE(deadlineAfterSeconds(1e300, now), NeverNs);
    QCOMPARE(deadlineAfterSeconds(std::numeric_limits<double>::infinity(), now), NeverNs);
    QCOMPARE(deadlineAfterSeconds(std::nan(""), now), now);
    QCOMPARE(deadlineAfterSeconds(-1, now), now);
    QCOMPARE(deadlineAfterSeconds(0.5, now), now + 500000000);
    QCOMPARE(doubledMs(1000, 3), 8000);
    QCOMPARE(doubledMs(qint64(3000000) * 3600 * 1000, 20), MaxDurationMs);
}

QTEST_GUILESS_MAIN(tst_TimerHeap)
#include "tst_timerheap.moc"
