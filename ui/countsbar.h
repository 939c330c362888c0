#pragma once

#include "tasksnapshot.h"

#include <QWidget>

#include <deque>

class QLabel;

// The counts above the task table: running ("active"), pending, failed (timed out
// included), succeeded, cancelled, interrupted (shown only when there are any: tasks cut
// short when Taskdeck itself stopped), and the throughput in finished tasks per second
// over the last few seconds. Main thread.
class CountsBar : public QWidget
{
    Q_OBJECT
public:
    explicit CountsBar(QWidget *parent = nullptr);

    // `nowMs` is a steady clock; calling it again with the same counts lets the
    // throughput fall back to zero when nothing finishes.
    void setCounts(const EngineCounts &counts, qint64 nowMs);
    double throughput() const { return m_throughput; }

protected:
    void changeEvent(QEvent *event) override;

private:
    QLabel *addCount(const QString &objectName, const QString &caption);
    void render();

    struct Sample
    {
        qint64 ms;
        int finished;
    };
    std::deque<Sample> m_samples;
    EngineCounts m_counts;
    double m_throughput = 0;
    QLabel *m_active;
    QLabel *m_pending;
    QLabel *m_failed;
    QLabel *m_succeeded;
    QLabel *m_cancelled;
    QLabel *m_interrupted;
    QLabel *m_rate;
};
