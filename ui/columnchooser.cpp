#include "columnchooser.h"

#include <QAbstractItemModel>
#include <QAction>
#include <QHeaderView>
#include <QMenu>

ColumnChooser::ColumnChooser(QHeaderView *header)
    : QObject(header)
    , m_header(header)
    , m_menu(new QMenu(tr("&Columns"), header))
{
    m_menu->setObjectName(QStringLiteral("columnChooser"));
    connect(m_menu, &QMenu::aboutToShow, this, &ColumnChooser::refresh);
    header->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(header, &QWidget::customContextMenuRequested, this,
            [this](const QPoint &pos) { m_menu->popup(m_header->viewport()->mapToGlobal(pos)); });
}

// The sections in the order they are shown (logical order when they were moved).
void ColumnChooser::refresh()
{
    m_menu->clear();
    const QAbstractItemModel *model = m_header->model();
    if (!model)
        return;
    const int count = m_header->count();
    int shown = 0;
    for (int v = 0; v < count; ++v)
        shown += m_header->isSectionHidden(m_header->logicalIndex(v)) ? 0 : 1;
    for (int v = 0; v < count; ++v) {
        const int section = m_header->logicalIndex(v);
        const QString title =
            model->headerData(section, m_header->orientation(), Qt::DisplayRole).toString();
        QAction *action = m_menu->addAction(title);
        action->setObjectName(QStringLiteral("column_%1").arg(section));
        action->setCheckable(true);
        const bool visible = !m_header->isSectionHidden(section);
        action->setChecked(visible);
        action->setEnabled(!visible || shown > 1); // one column always stays
        connect(action, &QAction::toggled, this, [this, section](bool on) {
            m_header->setSectionHidden(section, !on);
            if (on && m_header->sectionSize(section) < 30)
                m_header->resizeSection(section, m_header->defaultSectionSize());
        });
    }
}
