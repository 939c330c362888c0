#include "countsbar.h"

#include "statestyle.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>

namespace {

constexpr qint64 RateWindowMs = 3000;

} // namespace

CountsBar::CountsBar(QWidget *parent)
    : QWidget(parent)
{
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(4, 2, 4, 2);
    layout->setSpacing(18);
    m_active = addCount(QStringLiteral("activeCount"), tr("active"));
    m_pending = addCount(QStringLiteral("pendingCount"), tr("pending"));
    m_failed = addCount(QStringLiteral("failedCount"), tr("failed"));
    m_succeeded = addCount(QStringLiteral("succeededCount"), tr("succeeded"));
    m_cancelled = addCount(QStringLiteral("cancelledCount"), tr("cancelled"));
    m_interrupted = addCount(QStringLiteral("interruptedCount"), tr("interrupted"));
    m_rate = addCount(QStringLiteral("throughput"), tr("tasks/s"));
    m_active->setToolTip(tr("Tasks running now"));
    m_failed->setToolTip(tr("Failed and timed out tasks"));
    m_interrupted->setToolTip(tr("Tasks that were running when Taskdeck stopped"));
    m_rate->setToolTip(
        tr("Tasks finished per second, over the last %1 s").arg(RateWindowMs / 1000));
    layout->addStretch();
    render();
}

QLabel *CountsBar::addCount(const QString &objectName, const QString &caption)
{
    auto *label = new QLabel(this);
    label->setObjectName(objectName);
    label->setProperty("caption", caption);
    label->setTextFormat(Qt::RichText);
    layout()->addWidget(label);
    return label;
}

void CountsBar::setCounts(const EngineCounts &counts, qint64 nowMs)
{
    m_counts = counts;
    const int finished = counts.finished();
    // Cleared tasks leave the counts: the rate starts again rather than going negative.
    if (!m_samples.empty() && finished < m_samples.back().finished)
        m_samples.clear();
    while (!m_samples.empty() && m_samples.front().ms < nowMs - RateWindowMs)
        m_samples.pop_front();
    m_samples.push_back({nowMs, finished});
    const Sample &oldest = m_samples.front();
    const qint64 span = nowMs - oldest.ms;
    m_throughput = span >= 250 ? (finished - oldest.finished) * 1000.0 / span : 0.0;
    render();
}

void CountsBar::changeEvent(QEvent *event)
{
    if (event->type() == QEvent::PaletteChange)
        render();
    QWidget::changeEvent(event);
}

void CountsBar::render()
{
    const QPalette &pal = palette();
    const auto show = [](QLabel *label, const QString &value, const QColor &color) {
        const QString caption = label->property("caption").toString();
        label->setText(QStringLiteral("<span style=\"font-size:large; font-weight:600; "
                                      "color:%1\">%2</span>&nbsp;%3")
                           .arg(color.name(), value, caption.toHtmlEscaped()));
    };
    show(m_active, QString::number(m_counts.running), StateStyle::color(TaskState::Running, pal));
    show(m_pending, QString::number(m_counts.pending), pal.color(QPalette::WindowText));
    show(m_failed, QString::number(m_counts.failedOrTimedOut()),
         StateStyle::color(TaskState::Failed, pal));
    show(m_succeeded, QString::number(m_counts.succeeded),
         StateStyle::color(TaskState::Succeeded, pal));
    show(m_cancelled, QString::number(m_counts.cancelled),
         StateStyle::color(TaskState::Cancelled, pal));
    show(m_interrupted, QString::number(m_counts.interrupted),
         StateStyle::color(TaskState::Interrupted, pal));
    m_interrupted->setVisible(m_counts.interrupted > 0);
    show(m_rate, QString::number(m_throughput, 'f', m_throughput < 10 ? 1 : 0),
         pal.color(QPalette::WindowText));
}
