#pragma once

#include "tasksnapshot.h"

#include <QWidget>

#include <vector>

// A small chart of running, pending and finished tasks over the last minutes, drawn
// with QPainter from a ring buffer of samples (one per addSample call). Main thread.
class ActivityChart : public QWidget
{
    Q_OBJECT
public:
    static constexpr int Capacity = 480;
    static constexpr int MinSpan = 60; // samples across the width at least

    explicit ActivityChart(QWidget *parent = nullptr);

    void addSample(const EngineCounts &counts);
    void setSampleIntervalMs(int ms) { m_intervalMs = ms; }
    int sampleCount() const { return m_count; }

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    struct Sample
    {
        int running = 0;
        int pending = 0;
        int finished = 0;
    };
    const Sample &at(int i) const; // 0: oldest kept

    std::vector<Sample> m_ring;
    int m_next = 0;
    int m_count = 0;
    int m_intervalMs = 250;
};
