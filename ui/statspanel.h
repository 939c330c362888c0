#pragma once

#include "tasksnapshot.h"

#include <QHash>
#include <QTimer>
#include <QWidget>

#include <deque>

class QComboBox;
class QTableWidget;

// Throughput and timings over the last minutes to hours: a bar per slice of the range
// with the tasks that ended in it, and per group how many ended and how long they waited
// (queued to started) and ran (started to ended), median and 95th percentile, as a
// dashboard user reads Flower's or Taskforce's charts. Fed by the source's batches; keeps
// at most the last MaxSpanMs of ended tasks. Main thread.
class StatsPanel : public QWidget
{
    Q_OBJECT
public:
    static constexpr qint64 MaxSpanMs = 2 * 3600 * 1000;

    explicit StatsPanel(QWidget *parent = nullptr);

    void applyUpdate(const EngineUpdate &update);
    // The range shown, in ms (5 min, 30 min or 2 h from the box).
    void setSpanMs(qint64 ms);
    qint64 spanMs() const { return m_spanMs; }

    struct GroupTimes
    {
        int ended = 0;
        qint64 waitMedianMs = -1, waitP95Ms = -1;
        qint64 runMedianMs = -1, runP95Ms = -1;
    };
    // Per group (and "" for all) over the range ending at `nowMs`.
    QHash<QString, GroupTimes> times(qint64 nowMs) const;
    // Tasks ended per slice of the range ending at `nowMs`, oldest first.
    QList<int> throughput(qint64 nowMs, int slices) const;
    QTableWidget *table() const { return m_table; }
    // Redraws from the samples (once a second while shown).
    void refresh();

    // The value below which `percent` of `sorted` lies (nearest rank), -1 when empty.
    static qint64 percentile(const std::vector<qint64> &sorted, int percent);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    struct Ended
    {
        qint64 atMs;
        QString group;
        qint64 waitMs;
        qint64 runMs;
    };
    std::deque<Ended> m_ended;
    QHash<TaskId, qint64> m_counted; // tasks in m_ended, so that none counts twice
    QComboBox *m_range;
    QWidget *m_bars;
    QTableWidget *m_table;
    qint64 m_spanMs = 30 * 60 * 1000;
    QTimer m_timer;
};
