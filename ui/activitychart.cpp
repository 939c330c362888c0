#include "activitychart.h"

#include "statestyle.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>

ActivityChart::ActivityChart(QWidget *parent)
    : QWidget(parent)
    , m_ring(Capacity)
{
    setToolTip(tr("Running, pending and finished tasks over time"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

QSize ActivityChart::sizeHint() const
{
    return {420, 86};
}

QSize ActivityChart::minimumSizeHint() const
{
    return {160, 60};
}

void ActivityChart::addSample(const EngineCounts &counts)
{
    m_ring[m_next] = Sample{counts.running, counts.pending, counts.finished()};
    m_next = (m_next + 1) % Capacity;
    m_count = qMin(m_count + 1, Capacity);
    update();
}

const ActivityChart::Sample &ActivityChart::at(int i) const
{
    return m_ring[(m_next - m_count + i + Capacity) % Capacity];
}

void ActivityChart::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette &pal = palette();
    const QRectF frame = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    p.setPen(pal.color(QPalette::Mid));
    p.setBrush(pal.color(QPalette::Base));
    p.drawRoundedRect(frame, 3, 3);

    p.setClipRect(frame);
    const QFontMetrics fm = fontMetrics();
    const qreal legendHeight = fm.height() + 2;
    const QRectF plot = frame.adjusted(6, legendHeight + 2, -6, -5);

    struct Series
    {
        QString name;
        QColor color;
        int Sample::*field;
    };
    const Series series[] = {
        {tr("finished"), StateStyle::color(TaskState::Succeeded, pal), &Sample::finished},
        {tr("pending"), pal.color(QPalette::PlaceholderText), &Sample::pending},
        {tr("active"), StateStyle::color(TaskState::Running, pal), &Sample::running},
    };

    int peak = 1;
    for (int i = 0; i < m_count; ++i)
        peak = std::max({peak, at(i).running, at(i).pending, at(i).finished});

    // Legend with the latest values, and the scale on the right.
    qreal x = frame.left() + 6;
    const Sample last = m_count ? at(m_count - 1) : Sample();
    for (auto it = std::rbegin(series); it != std::rend(series); ++it) {
        p.setPen(Qt::NoPen);
        p.setBrush(it->color);
        p.drawRoundedRect(QRectF(x, frame.top() + 4 + fm.height() / 2.0 - 4, 8, 8), 2, 2);
        x += 11;
        p.setPen(pal.color(QPalette::Text));
        const QString text = QStringLiteral("%1 %2").arg(it->name).arg(last.*(it->field));
        p.drawText(QPointF(x, frame.top() + 3 + fm.ascent()), text);
        x += fm.horizontalAdvance(text) + 12;
    }
    const int shownSeconds = qBound(MinSpan, m_count, Capacity) * m_intervalMs / 1000;
    const QString scale = shownSeconds < 120
                              ? tr("max %1 · last %2 s").arg(peak).arg(shownSeconds)
                              : tr("max %1 · last %2 min").arg(peak).arg(shownSeconds / 60);
    // The scale only where it does not run into the legend.
    const qreal scaleX = frame.right() - 6 - fm.horizontalAdvance(scale);
    if (scaleX > x) {
        p.setPen(pal.color(QPalette::PlaceholderText));
        p.drawText(QPointF(scaleX, frame.top() + 3 + fm.ascent()), scale);
    }

    if (m_count < 2 || plot.width() < 10)
        return;
    // The time axis grows with the samples up to the ring's capacity, so that a young
    // chart fills its width instead of hugging the right edge.
    const int span = qBound(MinSpan, m_count, Capacity);
    const qreal step = plot.width() / (span - 1);
    const qreal x0 = plot.right() - (m_count - 1) * step;
    const auto y = [&](int v) { return plot.bottom() - plot.height() * v / peak; };
    for (const Series &s : series) {
        QPainterPath line;
        for (int i = 0; i < m_count; ++i) {
            const QPointF pt(x0 + i * step, y(at(i).*(s.field)));
            if (i == 0)
                line.moveTo(pt);
            else
                line.lineTo(pt);
        }
        QPainterPath area = line;
        area.lineTo(plot.right(), plot.bottom());
        area.lineTo(x0, plot.bottom());
        area.closeSubpath();
        QColor fill = s.color;
        fill.setAlpha(40);
        p.setPen(Qt::NoPen);
        p.setBrush(fill);
        p.drawPath(area);
        p.setPen(QPen(s.color, 1.6));
        p.setBrush(Qt::NoBrush);
        p.drawPath(line);
    }
}
